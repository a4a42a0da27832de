// Unit tests for wec::xml: Windows <Event> XML -> (name, value) pairs: the System fields, named and
// nameless Data, lists, empty elements, UserData, RenderingInfo, characters and references.
#include "xml-events.hpp"

#include <criterion/criterion.h>

#include <cstddef>
#include <string>

using wec::xml::ParsedEvent;

namespace {

// U+20BB7 (𠮷), outside the Basic Multilingual Plane: four bytes in UTF-8.
const std::string kAstralCharacter = "\xF0\xA0\xAE\xB7";

std::string first_line_containing(const std::string &file_name, const std::string &needle)
{
  for (const std::string &line : read_lines(file_name))
    if (line.find(needle) != std::string::npos)
      return line;
  cr_assert_fail("no line of %s contains %s", file_name.c_str(), needle.c_str());
  return {};
}

std::size_t count_with_prefix(const ParsedEvent &event, const std::string &prefix)
{
  std::size_t count = 0;
  for (const auto &field : event.fields)
    count += field.name.compare(0, prefix.size(), prefix) == 0;
  return count;
}

std::size_t position_of(const ParsedEvent &event, const std::string &name)
{
  for (std::size_t i = 0; i < event.fields.size(); ++i)
    if (event.fields[i].name == name)
      return i;
  return event.fields.size();
}

} // namespace

#define expect_field(event, name, expected)                                                                            \
  do                                                                                                                   \
    {                                                                                                                  \
      const std::string actual_value_ = value_of((event), (name));                                                     \
      const std::string expected_value_ = (expected);                                                                  \
      cr_expect(actual_value_ == expected_value_, "%s: expected [%s], got [%s]", std::string(name).c_str(),            \
                expected_value_.c_str(), actual_value_.c_str());                                                       \
  } while (0)

// ---------------------------------------------------------------------------------------------
// Layout of real events

Test(xml_parser, system_fields_of_a_4624_event)
{
  // Line 1 of the rendered corpus is a real 4624 logon event (with a synthetic RenderingInfo).
  ParsedEvent event = parse_ok(read_lines("synthetic-renderedtext-ja-JP.xml").at(0));

  expect_field(event, "Event.System.Provider._Name", "Microsoft-Windows-Security-Auditing");
  expect_field(event, "Event.System.Provider._Guid", "{54849625-5478-4994-a5ba-3e3b0328c30d}");
  expect_field(event, "Event.System.EventID", "4624");
  expect_field(event, "Event.System.Version", "2");
  expect_field(event, "Event.System.Level", "0");
  expect_field(event, "Event.System.Task", "12544");
  expect_field(event, "Event.System.Opcode", "0");
  expect_field(event, "Event.System.Keywords", "0x8020000000000000");
  expect_field(event, "Event.System.TimeCreated._SystemTime", "2021-04-26T15:16:03.9789958Z");
  expect_field(event, "Event.System.EventRecordID", "471784");
  expect_field(event, "Event.System.Correlation._ActivityID", "{42422748-35ed-0000-6027-4242ed35d701}");
  expect_field(event, "Event.System.Execution._ProcessID", "584");
  expect_field(event, "Event.System.Execution._ThreadID", "8");
  expect_field(event, "Event.System.Channel", "Security");
  expect_field(event, "Event.System.Computer", "srvdefender01.offsec.lan");

  // syslog-ng 3.38's xml() would say _ThreadIDD; <Security/> and <Correlation> carry no text;
  // xmlns declarations are not fields.
  cr_expect_eq(count_with_prefix(event, "Event.System.Execution._ThreadIDD"), 0);
  cr_expect_eq(count_named(event, "Event.System.Security"), 0);
  cr_expect_eq(count_named(event, "Event.System.Correlation"), 0);
  for (const auto &field : event.fields)
    cr_expect_not(contains(field.name, "xmlns"), "namespace declaration emitted as %s", field.name.c_str());

  // Document order: attributes of an element come where its start tag is.
  cr_expect_eq(position_of(event, "Event.System.Provider._Name"), 0);
  cr_expect_eq(position_of(event, "Event.System.Provider._Guid"), 1);
  cr_expect_eq(position_of(event, "Event.System.EventID"), 2);
  cr_expect_lt(position_of(event, "Event.System.Computer"), position_of(event, "Event.EventData.Data.SubjectUserSid"));

  cr_expect(event.summary.provider == "Microsoft-Windows-Security-Auditing");
  cr_expect(event.summary.event_id == "4624");
  cr_expect(event.summary.level == "0");
  cr_expect(event.summary.time_created == "2021-04-26T15:16:03.9789958Z");
  cr_expect(event.summary.event_record_id == "471784");
  cr_expect(event.summary.process_id == "584");
  cr_expect(event.summary.channel == "Security");
  cr_expect(event.summary.computer == "srvdefender01.offsec.lan");
}

Test(xml_parser, named_data_items_are_addressed_by_name)
{
  ParsedEvent event = parse_ok(read_lines("synthetic-renderedtext-ja-JP.xml").at(0));

  expect_field(event, "Event.EventData.Data.TargetUserName", "admmig");
  expect_field(event, "Event.EventData.Data.TargetDomainName", "OFFSEC");
  expect_field(event, "Event.EventData.Data.IpAddress", "10.23.123.11");
  expect_field(event, "Event.EventData.Data.IpPort", "47450");
  expect_field(event, "Event.EventData.Data.ImpersonationLevel", "%%1833");
  // Trailing blank kept exactly.
  expect_field(event, "Event.EventData.Data.LogonProcessName", "NtLmSsp ");

  cr_expect_eq(count_with_prefix(event, "Event.EventData.Data."), 27);
  cr_expect_eq(count_named(event, "Event.EventData.Data"), 0);
  for (const auto &field : event.fields)
    if (field.name.rfind("Event.EventData.", 0) == 0)
      cr_expect_eq(field.name.find("._Name"), std::string::npos, "Name attribute emitted as %s", field.name.c_str());
}

Test(xml_parser, nameless_data_items_become_one_list)
{
  ParsedEvent event = parse_ok(first_line_containing("events-permissive.xml", "<Data>unexisting-user</Data>"));

  expect_field(event, "Event.EventData.Data",
               "unexisting-user,"
               "\" Reason: An attempt to login using SQL authentication failed. Server is configured for Windows "
               "authentication only.\","
               "\" [CLIENT: 10.23.23.9]\"");
  expect_field(event, "Event.EventData.Binary",
               "184800000E0000000E0000004D005300530051004C00300031005C00520041004400410052000000070000006D0061007300"
               "7400650072000000");
  cr_expect_eq(count_named(event, "Event.EventData.Data"), 1);
}

Test(xml_parser, list_items_are_quoted_only_when_needed)
{
  ParsedEvent event = parse_ok(kEventOpen + "<EventData><Data>plain</Data><Data>a,b</Data><Data>say \"hi\"</Data>"
                                            "<Data>C:\\Windows</Data><Data> lead</Data><Data>trail\t</Data><Data/>"
                                            "<Data>inner space</Data></EventData>"
                                            "<RenderingInfo Culture='en-US'><Keywords><Keyword>Audit Success</Keyword>"
                                            "<Keyword>Foo</Keyword></Keywords></RenderingInfo></Event>");

  expect_field(event, "Event.EventData.Data",
               "plain,\"a,b\",\"say \\\"hi\\\"\",\"C:\\\\Windows\",\" lead\",\"trail\t\",\"\",inner space");
  expect_field(event, "Event.RenderingInfo.Keywords.Keyword", "Audit Success,Foo");
  expect_field(event, "Event.RenderingInfo._Culture", "en-US");
}

Test(xml_parser, single_occurrence_is_never_quoted)
{
  ParsedEvent event =
      parse_ok(kEventOpen + "<EventData><Data> a,\"b\" </Data></EventData>"
                            "<RenderingInfo><Keywords><Keyword>x,y</Keyword></Keywords></RenderingInfo></Event>");

  expect_field(event, "Event.EventData.Data", " a,\"b\" ");
  expect_field(event, "Event.RenderingInfo.Keywords.Keyword", "x,y");
}

Test(xml_parser, repeated_paths_and_names_merge_in_first_position)
{
  ParsedEvent event =
      parse_ok(kEventOpen + "<EventData><Data Name='Port'>1</Data><Data Name='Other'>x</Data>"
                            "<Data Name='Port'>2</Data><Binary>00</Binary><Binary>FF</Binary></EventData>"
                            "<UserData><A><B>1</B></A><A><B>2</B></A></UserData></Event>");

  expect_field(event, "Event.EventData.Data.Port", "1,2");
  expect_field(event, "Event.EventData.Binary", "00,FF");
  expect_field(event, "Event.UserData.A.B", "1,2");
  cr_expect_eq(count_named(event, "Event.EventData.Data.Port"), 1);
  cr_expect_lt(position_of(event, "Event.EventData.Data.Port"), position_of(event, "Event.EventData.Data.Other"));
}

Test(xml_parser, empty_elements)
{
  ParsedEvent event =
      parse_ok(kEventOpen + "<System><Security/><Correlation/><Opcode></Opcode><Keywords>  </Keywords>"
                            "<Execution ProcessID='4' ThreadID=''/></System>"
                            "<EventData><Data Name='Empty'/><Data Name='Blank'> </Data></EventData></Event>");

  cr_expect_eq(count_named(event, "Event.System.Security"), 0);
  cr_expect_eq(count_named(event, "Event.System.Correlation"), 0);
  cr_expect_eq(count_named(event, "Event.System.Opcode"), 0);
  cr_expect_eq(count_named(event, "Event.System"), 0);
  cr_expect_eq(count_named(event, "Event.EventData"), 0);
  cr_expect_eq(count_named(event, "Event.System.Execution"), 0);
  // A whitespace-only leaf keeps its text; attributes keep empty values.
  expect_field(event, "Event.System.Keywords", "  ");
  expect_field(event, "Event.System.Execution._ProcessID", "4");
  cr_expect_eq(count_named(event, "Event.System.Execution._ThreadID"), 1);
  expect_field(event, "Event.System.Execution._ThreadID", "");
  // Named Data always carries a value, even an empty one.
  cr_expect_eq(count_named(event, "Event.EventData.Data.Empty"), 1);
  expect_field(event, "Event.EventData.Data.Empty", "");
  expect_field(event, "Event.EventData.Data.Blank", " ");

  ParsedEvent no_data = parse_ok(kEventOpen + "<EventData></EventData></Event>");
  cr_expect(no_data.fields.empty(), "%zu fields from an empty event", no_data.fields.size());
}

Test(xml_parser, data_with_empty_name_is_a_nameless_item)
{
  ParsedEvent event = parse_ok(kEventOpen + "<EventData><Data>a</Data><Data Name=''>b</Data></EventData></Event>");
  expect_field(event, "Event.EventData.Data", "a,b");
  cr_expect_eq(count_with_prefix(event, "Event.EventData.Data."), 0);
}

Test(xml_parser, whitespace_between_child_elements_is_dropped)
{
  ParsedEvent event = parse_ok(kEventOpen + "\n  <System>\n    <EventID>7</EventID>\n  </System>\n"
                                            "  <UserData><X>head <Y>1</Y> tail</X></UserData>\n</Event>");
  expect_field(event, "Event.System.EventID", "7");
  cr_expect_eq(count_named(event, "Event"), 0);
  cr_expect_eq(count_named(event, "Event.System"), 0);
  // Mixed content keeps its text runs, but not the whitespace-only ones.
  expect_field(event, "Event.UserData.X", "head  tail");
  expect_field(event, "Event.UserData.X.Y", "1");
}

Test(xml_parser, user_data_is_walked_generically)
{
  ParsedEvent event = parse_ok(first_line_containing("events-permissive.xml", "<CbsUpdateChangeState"));
  expect_field(event, "Event.UserData.CbsUpdateChangeState.UpdateName", "MSRDC-Infrastructure");
  expect_field(event, "Event.UserData.CbsUpdateChangeState.PackageIdentifier", "Microsoft-Windows-RDC");
  expect_field(event, "Event.UserData.CbsUpdateChangeState.ErrorCode", "0x0");
  expect_field(event, "Event.UserData.CbsUpdateChangeState.Client", "DISM Package Manager Provider");
  expect_field(event, "Event.System.Security._UserID", "S-1-5-18");

  // Prefixes are dropped from element and attribute names.
  ParsedEvent prefixed = parse_ok(kEventOpen + "<UserData><u:Change xmlns:u='urn:example'><u:Item u:kind='k'>v</u:Item>"
                                               "</u:Change></UserData></Event>");
  expect_field(prefixed, "Event.UserData.Change.Item", "v");
  expect_field(prefixed, "Event.UserData.Change.Item._kind", "k");
}

Test(xml_parser, japanese_rendering_info)
{
  ParsedEvent event = parse_ok(read_lines("synthetic-renderedtext-ja-JP.xml").at(0));

  expect_field(event, "Event.RenderingInfo._Culture", "ja-JP");
  expect_field(event, "Event.RenderingInfo.Level", "情報");
  expect_field(event, "Event.RenderingInfo.Task", "ログオン");
  expect_field(event, "Event.RenderingInfo.Channel", "セキュリティ");
  expect_field(event, "Event.RenderingInfo.Keywords.Keyword", "成功の監査");

  const std::string message = value_of(event, "Event.RenderingInfo.Message");
  cr_expect(message.rfind("アカウントが正常にログオンしました。\r\n\r\nサブジェクト:\r\n\tセキュリティ ID:\t\tS-1-0-0",
                          0) == 0,
            "message starts with [%.120s]", message.c_str());
  cr_expect(contains(message, "\tログオン プロセス:\t\tNtLmSsp \r\n"));
  cr_expect(contains(message, "アクセスされたコンピューターで生成されます。"));
  cr_expect(event.summary.message == message);
}

Test(xml_parser, astral_plane_characters_round_trip)
{
  ParsedEvent event = parse_ok(kEventOpen + "<EventData><Data Name='Literal'>名前" + kAstralCharacter +
                               "野家</Data><Data Name='Reference'>&#x20BB7;&#134071;</Data></EventData>"
                               "<System><Computer>" +
                               kAstralCharacter + "</Computer></System></Event>");

  expect_field(event, "Event.EventData.Data.Literal", "名前" + kAstralCharacter + "野家");
  expect_field(event, "Event.EventData.Data.Reference", kAstralCharacter + kAstralCharacter);
  cr_expect(event.summary.computer == kAstralCharacter);
}

Test(xml_parser, character_references_and_predefined_entities)
{
  ParsedEvent event = parse_ok(
      kEventOpen + "<EventData><Data Name='Lines'>one&#13;&#10;two&#10;</Data>"
                   "<Data Name='Escaped'>&lt;a href=&quot;x&quot;&gt;&amp;&apos;</Data>"
                   "<Data Name='Cdata'>a<![CDATA[<b>&amp;]]>c</Data></EventData>"
                   "<System><Provider Name='A&amp;B &lt;&#38;#38;&gt;' Guid='x&#13;&#10;y'/></System></Event>");

  expect_field(event, "Event.EventData.Data.Lines", "one\r\ntwo\n");
  expect_field(event, "Event.EventData.Data.Escaped", "<a href=\"x\">&'");
  expect_field(event, "Event.EventData.Data.Cdata", "a<b>&amp;c");
  // libxml2 keeps '&' in attributes as "&#38;" without entity substitution; we must not.
  expect_field(event, "Event.System.Provider._Name", "A&B <&#38;>");
  expect_field(event, "Event.System.Provider._Guid", "x\r\ny");
}
