#include "collector/field-names.hpp"

#include <cstdio>

namespace wec {

namespace {

constexpr auto kWarningInterval = std::chrono::seconds(60);

// Folded fields are kept as one JSON object: unambiguous for any name and value.
void append_json_string(std::string &out, std::string_view text)
{
  out += '"';
  for (unsigned char c : text)
    {
      if (c == '"' || c == '\\')
        out += '\\';
      if (c < 0x20)
        {
          char escaped[8];
          std::snprintf(escaped, sizeof(escaped), "\\u%04x", c);
          out += escaped;
        }
      else
        out += static_cast<char>(c);
    }
  out += '"';
}

} // namespace

std::size_t FieldNameBudget::slot_of(const std::string &name)
{
  auto it = slots_.find(name);
  if (it != slots_.end())
    return it->second;
  if (slots_.size() >= limit_)
    return kNotAdmitted;
  const std::size_t slot = slots_.size();
  slots_.emplace(name, slot);
  return slot;
}

void FieldNameBudget::append_folded(std::string &json, const xml::EventField &field)
{
  json += json.empty() ? '{' : ',';
  append_json_string(json, field.name);
  json += ':';
  append_json_string(json, field.value);
}

void FieldNameBudget::note_folded(std::size_t count, std::string &json)
{
  json += '}';
  folded_since_warning_ += count;
  folded_total_ += count;
  const auto now = std::chrono::steady_clock::now();
  if (last_warning_ != std::chrono::steady_clock::time_point{} && now - last_warning_ < kWarningInterval)
    return;
  last_warning_ = now;
  log_(LogLevel::Warning, "windowsevent: field name budget reached, fields with new names go into .wec.overflow_fields",
       {{"budget", std::to_string(limit_)},
        {"folded", std::to_string(folded_since_warning_)},
        {"folded_total", std::to_string(folded_total_)},
        {"hint", "a forwarder sends events with ever new field names (<Data Name=...>)"}});
  folded_since_warning_ = 0;
}

} // namespace wec
