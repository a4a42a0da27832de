// Unit tests for wec::wsman: the bookmark of an Events message, checked and re-serialised before
// it is stored and offered back in the next Subscribe.
#include <criterion/criterion.h>

#include "expect.hpp"
#include "wsman-captures.hpp"

#include <string>

#include "wsman/bookmark.hpp"
#include "wsman/message.hpp"

using namespace wec::wsman;

// ================================================================================================
// Bookmarks

Test(parse, events_bookmark_multiple_channels_and_escapes)
{
  std::string bookmark =
      "<BookmarkList Direction=\"backward\">\n  <Bookmark Channel=\"Security\" RecordId=\"1\"/>"
      "<Bookmark Channel=\"A &amp; B &lt;x&gt; &quot;q&quot;\" RecordId=\"18446744073709551615\" IsCurrent=\"true\"/>"
      "</BookmarkList>";
  Message m = parse_ok(events_envelope({kEvent1}, bookmark));
  cr_assert(m.bookmark.has_value());
  Doc again(*m.bookmark);
  cr_assert_eq(again.count("/BookmarkList[@Direction='backward']/Bookmark"), 2);
  EXPECT_STR(again.string("/BookmarkList/Bookmark[2]/@Channel").c_str(), "A & B <x> \"q\"");
  EXPECT_STR(again.string("/BookmarkList/Bookmark[2]/@RecordId").c_str(), "18446744073709551615");
}

Test(parse, bookmark_with_namespace_declared_on_ancestor)
{
  // Prefix declared on the Envelope: the serialised bookmark must declare it itself.
  std::string xml =
      events_envelope({}, "<bm:BookmarkList><bm:Bookmark Channel=\"Security\" bm:RecordId=\"7\"/></bm:BookmarkList>");
  xml.insert(xml.find(" xmlns:s="), " xmlns:bm=\"urn:example:bookmark\"");
  Message m = parse_ok(xml);
  cr_assert(m.bookmark.has_value());
  Doc again(*m.bookmark);
  xmlXPathRegisterNs(again.xpath, BAD_CAST "bm", BAD_CAST "urn:example:bookmark");
  cr_assert_eq(again.count("/bm:BookmarkList/bm:Bookmark[@Channel='Security'][@bm:RecordId='7']"), 1);
}

Test(parse, bookmark_that_is_not_a_bookmark_list_is_refused)
{
  // Text would go back into the next Subscribe: an injected '</w:Bookmark>' once redirected events.
  const char *refused[] = {
      " http://schemas.dmtf.org/wbem/wsman/1/wsman/bookmark/earliest ",
      "&lt;/w:Bookmark&gt;&lt;w:Injected/&gt;",
      "<BookmarkList/><BookmarkList/>",
      "<Other/>",
      "<BookmarkList/>trailing text",
  };
  for (const char *bookmark : refused)
    {
      std::string error = parse_error(events_envelope({kEvent1}, bookmark));
      cr_assert(error.find("refused bookmark") == 0, "%s: %s", bookmark, error.c_str());
    }
}

Test(parse, bookmark_is_re_serialised_escaped_and_without_comments)
{
  Message m = parse_ok(events_envelope(
      {}, "<BookmarkList><!-- x --><Bookmark Channel='a&lt;/w:Bookmark&gt;' RecordId='1'/>\n</BookmarkList>"));
  cr_assert(m.bookmark.has_value());
  EXPECT_STR(m.bookmark->c_str(),
             "<BookmarkList><Bookmark Channel=\"a&lt;/w:Bookmark&gt;\" RecordId=\"1\"/></BookmarkList>");
}

Test(parse, empty_bookmark_is_no_bookmark) { cr_assert_not(parse_ok(events_envelope({}, "  ")).bookmark.has_value()); }

Test(parse, bookmark_over_the_size_cap_is_refused)
{
  std::string items;
  while (items.size() < kMaxBookmarkBytes)
    items += "<Bookmark Channel=\"Microsoft-Windows-Sysmon/Operational\" RecordId=\"123456789\"/>";
  std::string error = parse_error(events_envelope({}, "<BookmarkList>" + items + "</BookmarkList>"));
  cr_assert(error.find("larger than 65536 bytes") != std::string::npos, "%s", error.c_str());
}

Test(bookmark, stored_text_is_checked_again)
{
  std::string out, error;
  cr_assert_eq(canonical_bookmark("<BookmarkList><Bookmark RecordId='5'/></BookmarkList>", out, error),
               BookmarkResult::Valid);
  EXPECT_STR(out.c_str(), "<BookmarkList><Bookmark RecordId=\"5\"/></BookmarkList>");
  cr_assert_eq(canonical_bookmark("</w:Bookmark><w:Injected/>", out, error), BookmarkResult::Refused);
  cr_assert_eq(canonical_bookmark("http://schemas.dmtf.org/wbem/wsman/1/wsman/bookmark/earliest", out, error),
               BookmarkResult::Refused);
  cr_assert_eq(canonical_bookmark("<!DOCTYPE x><BookmarkList/>", out, error), BookmarkResult::Refused);
  std::string crowded = "<BookmarkList><Bookmark";
  for (int i = 0; i < 65; ++i)
    crowded += " a" + std::to_string(i) + "='1'";
  cr_assert_eq(canonical_bookmark(crowded + "/></BookmarkList>", out, error), BookmarkResult::Refused);
  EXPECT_STARTS(error, "more than 64 attributes on one element");
  cr_assert_eq(canonical_bookmark(std::string(kMaxBookmarkBytes + 1, ' '), out, error), BookmarkResult::Refused);
}
