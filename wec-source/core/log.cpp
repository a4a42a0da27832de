#include "log.hpp"

namespace wec {

std::string clip(std::string_view text, std::size_t limit)
{
  if (text.size() <= limit)
    return std::string(text);
  std::size_t cut = limit;
  while (cut > 0 && (static_cast<unsigned char>(text[cut]) & 0xC0) == 0x80)
    --cut; // not inside a multi-byte character
  return std::string(text.substr(0, cut)) + "...[+" + std::to_string(text.size() - cut) + " bytes]";
}

} // namespace wec
