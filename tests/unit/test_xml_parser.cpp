// Unit tests for wec::xml: Windows <Event> XML -> (name, value) pairs, time and SD-PARAM names.
#include "event-xml-parser.hpp"

#include <criterion/criterion.h>

#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <atomic>
#include <cerrno>
#include <chrono>
#include <cstdio>
#include <fstream>
#include <string>
#include <thread>
#include <vector>

using wec::xml::parse_event;
using wec::xml::parse_system_time;
using wec::xml::ParsedEvent;
using wec::xml::ParseLimits;
using wec::xml::sdata_param_name;
using wec::xml::syslog_severity;

namespace {

const std::string kEventOpen = "<Event xmlns='http://schemas.microsoft.com/win/2004/08/events/event'>";
const std::string kMissing = "<field missing>";
// U+20BB7 (𠮷), outside the Basic Multilingual Plane: four bytes in UTF-8.
const std::string kAstralCharacter = "\xF0\xA0\xAE\xB7";

std::vector<std::string> read_lines(const std::string &file_name)
{
  std::ifstream file(std::string(WEC_TEST_DATA_DIR) + "/" + file_name);
  cr_assert(file.is_open(), "cannot open test data %s", file_name.c_str());
  std::vector<std::string> lines;
  std::string line;
  while (std::getline(file, line))
    if (!line.empty())
      lines.push_back(line);
  return lines;
}

std::string first_line_containing(const std::string &file_name, const std::string &needle)
{
  for (const std::string &line : read_lines(file_name))
    if (line.find(needle) != std::string::npos)
      return line;
  cr_assert_fail("no line of %s contains %s", file_name.c_str(), needle.c_str());
  return {};
}

std::string value_of(const ParsedEvent &event, const std::string &name)
{
  for (const auto &field : event.fields)
    if (field.name == name)
      return field.value;
  return kMissing;
}

std::size_t count_named(const ParsedEvent &event, const std::string &name)
{
  std::size_t count = 0;
  for (const auto &field : event.fields)
    count += field.name == name;
  return count;
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

ParsedEvent parse_ok(const std::string &xml, const ParseLimits &limits = ParseLimits{})
{
  ParsedEvent event;
  std::string error;
  bool parsed = parse_event(xml, event, error, limits);
  cr_assert(parsed, "parse failed: %s\ninput: %.300s", error.c_str(), xml.c_str());
  cr_assert(error.empty(), "error set on success: %s", error.c_str());
  return event;
}

std::string parse_error(const std::string &xml, const ParseLimits &limits = ParseLimits{})
{
  ParsedEvent event;
  event.fields.push_back({"stale", "value"});
  std::string error;
  bool parsed = parse_event(xml, event, error, limits);
  cr_assert_not(parsed, "parse unexpectedly succeeded: %.300s", xml.c_str());
  cr_assert_not(error.empty(), "no error message");
  cr_assert_eq(error.find('\n'), std::string::npos, "error is not one line: %s", error.c_str());
  cr_assert(event.fields.empty(), "fields left behind after a failed parse");
  return error;
}

bool contains(const std::string &text, const std::string &part) { return text.find(part) != std::string::npos; }

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

// ---------------------------------------------------------------------------------------------
// Refusals

Test(xml_parser, dtd_is_refused)
{
  std::string error = parse_error("<!DOCTYPE Event [<!ENTITY greeting 'hello'>]>" + kEventOpen +
                                  "<System><Computer>&greeting;</Computer></System></Event>");
  cr_expect(contains(error, "DTD not allowed"), "error: %s", error.c_str());

  error = parse_error("<?xml version='1.0'?><!DOCTYPE Event>" + kEventOpen + "</Event>");
  cr_expect(contains(error, "DTD not allowed"), "error: %s", error.c_str());
}

// A listening socket on loopback: any attempt to fetch from it leaves a pending connection.
class LoopbackListener
{
public:
  LoopbackListener()
  {
    socket_ = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK, 0);
    cr_assert_geq(socket_, 0);
    sockaddr_in address{};
    address.sin_family = AF_INET;
    address.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    cr_assert_eq(bind(socket_, reinterpret_cast<sockaddr *>(&address), sizeof address), 0);
    cr_assert_eq(listen(socket_, 8), 0);
    socklen_t length = sizeof address;
    cr_assert_eq(getsockname(socket_, reinterpret_cast<sockaddr *>(&address), &length), 0);
    port_ = ntohs(address.sin_port);
  }
  ~LoopbackListener() { close(socket_); }
  int port() const { return port_; }
  bool was_contacted() const
  {
    int connection = accept(socket_, nullptr, nullptr);
    if (connection >= 0)
      {
        close(connection);
        return true;
      }
    return errno != EAGAIN && errno != EWOULDBLOCK;
  }

private:
  int socket_ = -1;
  int port_ = 0;
};

Test(xml_parser, external_entities_are_refused_and_not_fetched, .timeout = 20)
{
  LoopbackListener listener;
  const std::string url = "http://127.0.0.1:" + std::to_string(listener.port()) + "/secret";

  char secret_path[] = "/tmp/wec-xml-secret-XXXXXX";
  int secret_fd = mkstemp(secret_path);
  cr_assert_geq(secret_fd, 0);
  const std::string secret = "TOP-SECRET-MARKER";
  cr_assert_eq(write(secret_fd, secret.data(), secret.size()), static_cast<ssize_t>(secret.size()));
  close(secret_fd);

  const std::string documents[] = {
      "<!DOCTYPE Event [<!ENTITY xxe SYSTEM '" + url + "'>]>" + kEventOpen +
          "<System><Computer>&xxe;</Computer></System></Event>",
      "<!DOCTYPE Event [<!ENTITY xxe SYSTEM 'file://" + std::string(secret_path) + "'>]>" + kEventOpen +
          "<System><Computer>&xxe;</Computer></System></Event>",
      "<!DOCTYPE Event SYSTEM '" + url + "'>" + kEventOpen + "</Event>",
      "<!DOCTYPE Event [<!ENTITY % remote SYSTEM '" + url + "'> %remote;]>" + kEventOpen + "</Event>",
  };
  for (const std::string &document : documents)
    {
      ParsedEvent event;
      std::string error;
      cr_expect_not(parse_event(document, event, error));
      cr_expect(contains(error, "DTD not allowed"), "error: %s", error.c_str());
      for (const auto &field : event.fields)
        cr_expect_not(contains(field.value, secret));
    }

  // Without a DTD, a reference to an undeclared entity is refused by name.
  std::string error = parse_error(kEventOpen + "<System><Computer>&xxe;</Computer></System></Event>");
  cr_expect(contains(error, "entity 'xxe' not allowed"), "error: %s", error.c_str());
  error = parse_error(kEventOpen + "<System><Provider Name='&xxe;'/></System></Event>");
  cr_expect(contains(error, "entity 'xxe' not allowed"), "error: %s", error.c_str());

  cr_expect_not(listener.was_contacted(), "the parser connected to %s", url.c_str());
  unlink(secret_path);
}

Test(xml_parser, billion_laughs_is_refused_quickly, .timeout = 20)
{
  std::string document = "<?xml version='1.0'?><!DOCTYPE Event [<!ENTITY lol0 'lol'>";
  for (int level = 1; level <= 9; ++level)
    {
      const std::string previous = "&lol" + std::to_string(level - 1) + ";";
      document += "<!ENTITY lol" + std::to_string(level) + " '";
      for (int i = 0; i < 10; ++i)
        document += previous;
      document += "'>";
    }
  document += "]>" + kEventOpen + "<System><Computer>&lol9;</Computer></System></Event>";

  const auto start = std::chrono::steady_clock::now();
  std::string error = parse_error(document);
  const auto elapsed = std::chrono::steady_clock::now() - start;

  cr_expect(contains(error, "DTD not allowed"), "error: %s", error.c_str());
  cr_expect_lt(std::chrono::duration_cast<std::chrono::milliseconds>(elapsed).count(), 1000);
}

std::string nested_event(int depth)
{
  // The root counts as level 1.
  std::string document = kEventOpen;
  for (int level = 2; level <= depth; ++level)
    document += "<N>";
  document += "deep";
  for (int level = 2; level <= depth; ++level)
    document += "</N>";
  return document + "</Event>";
}

Test(xml_parser, nesting_depth_is_limited)
{
  ParsedEvent at_limit = parse_ok(nested_event(64));
  cr_expect_eq(at_limit.fields.size(), 1);

  std::string error = parse_error(nested_event(65));
  cr_expect(contains(error, "nesting deeper than 64"), "error: %s", error.c_str());

  ParseLimits shallow;
  shallow.max_depth = 3;
  parse_ok(kEventOpen + "<System><EventID>1</EventID></System></Event>", shallow);
  error = parse_error(kEventOpen + "<UserData><A><B>1</B></A></UserData></Event>", shallow);
  cr_expect(contains(error, "nesting deeper than 3"), "error: %s", error.c_str());
}

Test(xml_parser, field_names_are_limited)
{
  // "Event." + 506 bytes = 512: the longest name allowed.
  const std::string at_limit(506, 'N');
  ParsedEvent event = parse_ok(kEventOpen + "<" + at_limit + ">x</" + at_limit + "></Event>");
  cr_expect_eq(value_of(event, "Event." + at_limit), "x");
  std::string error = parse_error(kEventOpen + "<" + at_limit + "N>x</" + at_limit + "N></Event>");
  cr_expect(error.rfind("field name longer than 512 bytes at line 1, column ", 0) == 0, "error: %s", error.c_str());
  // A Data Name and an attribute name are part of the field name.
  error =
      parse_error(kEventOpen + "<EventData><Data Name='" + std::string(600, 'D') + "'>x</Data></EventData></Event>");
  cr_expect(contains(error, "field name longer than 512 bytes"), "error: %s", error.c_str());
  error = parse_error(kEventOpen + "<System><Provider " + std::string(600, 'a') + "='x'/></System></Event>");
  cr_expect(contains(error, "field name longer than 512 bytes"), "error: %s", error.c_str());
}

Test(xml_parser, field_names_stay_in_proportion_to_the_event)
{
  // Many small elements under a long path: each field repeats the path. Names may add up to
  // four bytes per byte of event plus 4 KiB.
  const std::string wrapper(400, 'W');
  std::string document = kEventOpen + "<" + wrapper + ">";
  for (int i = 0; i < 200; ++i)
    document += "<c" + std::to_string(i) + ">1</c" + std::to_string(i) + ">";
  document += "</" + wrapper + "></Event>";
  std::string error = parse_error(document);
  cr_expect(contains(error, "field names add up to more than " + std::to_string(4 * document.size() + 4096) + " bytes"),
            "error: %s", error.c_str());
  // Fewer of them fit.
  document = kEventOpen + "<" + wrapper + ">";
  for (int i = 0; i < 20; ++i)
    document += "<c" + std::to_string(i) + ">1</c" + std::to_string(i) + ">";
  parse_ok(document + "</" + wrapper + "></Event>");
}

Test(xml_parser, markup_built_to_be_slow_is_refused_before_libxml2)
{
  std::string attributes;
  for (int i = 0; i < 40000; ++i)
    attributes += " a" + std::to_string(i) + "='1'";
  std::string error = parse_error(kEventOpen + "<System" + attributes + "/></Event>");
  cr_expect(error.rfind("more than 64 attributes on one element at line 1, column ", 0) == 0, "error: %s",
            error.c_str());
  std::string names = kEventOpen + "<UserData>";
  for (int i = 0; i < 10001; ++i)
    names += "<n" + std::to_string(i) + "/>";
  error = parse_error(names + "</UserData></Event>");
  cr_expect(contains(error, "more than 10000 distinct element names"), "error: %s", error.c_str());
}

Test(xml_parser, not_well_formed_input_is_refused)
{
  std::string error = parse_error(kEventOpen + "<System><EventID>1</System></Event>");
  cr_expect(error.rfind("not well-formed at line 1, column ", 0) == 0, "error: %s", error.c_str());

  error = parse_error(kEventOpen + "\n<System>\n<EventID>1</EventID>");
  cr_expect(error.rfind("not well-formed at line 3, column ", 0) == 0, "error: %s", error.c_str());

  parse_error("not xml at all");
  parse_error(kEventOpen + "</Event><Event/>");
  parse_error(kEventOpen + "<System a='1' a='2'/></Event>");
  parse_error(kEventOpen + "<p:System/></Event>"); // undeclared prefix
  parse_error(kEventOpen + "\xC3\x28</Event>");    // invalid UTF-8
  parse_error("");
}

Test(xml_parser, root_must_be_event)
{
  std::string error = parse_error("<Events><Event/></Events>");
  cr_expect(contains(error, "root element is <Events>, not <Event>"), "error: %s", error.c_str());

  error = parse_error("<Event xmlns='urn:something-else'/>");
  cr_expect(contains(error, "root element"), "error: %s", error.c_str());

  // Without any namespace is accepted.
  ParsedEvent event = parse_ok("<Event><System><EventID>5</EventID></System></Event>");
  cr_expect(event.summary.event_id == "5");
}

Test(xml_parser, size_is_limited_before_parsing)
{
  ParseLimits limits;
  limits.max_bytes = 100;
  std::string document = "<Event><System><Computer></Computer></System></Event>";
  document.insert(document.find("</Computer>"), 100 - document.size(), 'x');
  cr_assert_eq(document.size(), 100);
  parse_ok(document, limits);

  document.insert(document.find("</Computer>"), "x");
  std::string error = parse_error(document, limits);
  cr_expect(contains(error, "101 bytes exceeds the limit of 100"), "error: %s", error.c_str());

  // Too large is refused before parsing: even garbage gets the size error.
  error = parse_error(std::string(101, '<'), limits);
  cr_expect(contains(error, "exceeds the limit"), "error: %s", error.c_str());
}

Test(xml_parser, errors_are_not_printed_to_stderr)
{
  std::fflush(stderr);
  FILE *capture = std::tmpfile();
  cr_assert_not_null(capture);
  const int saved_stderr = dup(STDERR_FILENO);
  dup2(fileno(capture), STDERR_FILENO);

  ParsedEvent event;
  std::string error;
  bool any_parsed = parse_event(kEventOpen + "<System>", event, error);
  any_parsed |= parse_event(kEventOpen + "\xFF\xFE</Event>", event, error);
  // The text is UTF-8 whatever its declaration says: the declaration is ignored, without a word.
  const bool declared_charset_ignored =
      parse_event("<?xml version='1.0' encoding='no-such-charset'?><Event/>", event, error);
  any_parsed |= parse_event("<!DOCTYPE Event [<!ENTITY a 'b'>]><Event>&a;</Event>", event, error);
  any_parsed |= parse_event(kEventOpen + "&undeclared;</Event>", event, error);

  std::fflush(stderr);
  dup2(saved_stderr, STDERR_FILENO);
  close(saved_stderr);
  const long printed = static_cast<long>(lseek(fileno(capture), 0, SEEK_END));
  std::fclose(capture);

  cr_expect_not(any_parsed);
  cr_expect(declared_charset_ignored, "error: %s", error.c_str());
  cr_expect_eq(printed, 0, "libxml2 wrote %ld bytes to stderr", printed);
}

Test(xml_parser, a_failed_parse_does_not_disturb_the_next)
{
  const std::string good = read_lines("synthetic-renderedtext-en-US.xml").at(0);
  parse_error(nested_event(200));
  parse_error("<!DOCTYPE Event [<!ENTITY a 'b'>]><Event>&a;</Event>");
  parse_error(kEventOpen + "<System>");
  ParsedEvent event = parse_ok(good);
  cr_expect(event.summary.event_id == "4624");
  const std::string message = value_of(event, "Event.RenderingInfo.Message");
  cr_expect(message.rfind("An account was successfully logged on.\r\n\r\nSubject:\r\n", 0) == 0, "message: %.80s",
            message.c_str());
}

Test(xml_parser, parses_concurrently_on_several_threads)
{
  const std::vector<std::string> lines = read_lines("events-permissive.xml");
  std::atomic<std::size_t> failures{0};
  std::atomic<std::size_t> parsed{0};
  std::vector<std::thread> workers;
  for (int worker = 0; worker < 4; ++worker)
    workers.emplace_back([&, worker] {
      ParsedEvent event;
      std::string error;
      // Every worker parses every line, each starting at a different place.
      for (std::size_t n = 0; n < lines.size(); ++n)
        {
          const std::size_t i = (n + static_cast<std::size_t>(worker) * 1500) % lines.size();
          if (parse_event(lines[i], event, error) && !event.summary.event_id.empty())
            ++parsed;
          else
            ++failures;
          // Interleave refusals so that error state could leak between threads if shared.
          if (i % 97 == 0 && parse_event(kEventOpen + "<System>", event, error))
            ++failures;
        }
    });
  for (auto &worker : workers)
    worker.join();
  cr_expect_eq(failures.load(), 0);
  cr_expect_eq(parsed.load(), 4 * lines.size());
}

Test(xml_parser, every_corpus_event_parses)
{
  const std::vector<std::string> lines = read_lines("events-permissive.xml");
  cr_assert_eq(lines.size(), 5916);

  std::size_t parsed = 0, with_event_id = 0, with_provider = 0, with_time = 0, with_valid_time = 0;
  std::size_t with_thread_id = 0, with_misspelled_thread_id = 0;
  ParsedEvent event;
  std::string error;
  for (std::size_t i = 0; i < lines.size(); ++i)
    {
      if (!parse_event(lines[i], event, error))
        {
          cr_expect_fail("line %zu: %s", i + 1, error.c_str());
          continue;
        }
      ++parsed;
      with_event_id +=
          !event.summary.event_id.empty() && value_of(event, "Event.System.EventID") == event.summary.event_id;
      with_provider += !event.summary.provider.empty();
      with_time += !event.summary.time_created.empty();
      long long seconds = 0;
      unsigned microseconds = 0;
      with_valid_time += parse_system_time(event.summary.time_created, seconds, microseconds) && seconds > 0;
      with_thread_id += count_named(event, "Event.System.Execution._ThreadID");
      with_misspelled_thread_id += count_named(event, "Event.System.Execution._ThreadIDD");
    }
  cr_expect_eq(parsed, 5916);
  cr_expect_eq(with_event_id, 5916);
  cr_expect_eq(with_provider, 5916);
  cr_expect_eq(with_time, 5916);
  cr_expect_eq(with_valid_time, 5916);
  cr_expect_gt(with_thread_id, 0);
  cr_expect_eq(with_misspelled_thread_id, 0);
}

// ---------------------------------------------------------------------------------------------
// parse_system_time

struct TimeCase
{
  const char *text;
  long long seconds;
  unsigned microseconds;
};

Test(system_time, valid_times)
{
  const TimeCase cases[] = {
      {"2024-05-01T10:00:00.1234567Z", 1714557600, 123456},
      {"2021-04-26T15:16:03.9789958Z", 1619450163, 978995},
      {"1970-01-01T00:00:00Z", 0, 0},
      {"2024-05-01T10:00:00Z", 1714557600, 0},
      {"2024-05-01T10:00:00.5Z", 1714557600, 500000},
      {"2024-05-01T10:00:00.000001Z", 1714557600, 1},
      {"2024-05-01T10:00:00.123456789Z", 1714557600, 123456},
      {"2024-05-01T12:00:00.25+02:00", 1714557600, 250000},
      {"2024-05-01T04:30:00-05:30", 1714557600, 0},
      {"2024-02-29T23:59:59Z", 1709251199, 0},
      {"2000-03-01T00:00:00Z", 951868800, 0},
      {"1969-12-31T23:59:59.5Z", -1, 500000},
      {"1601-01-01T00:00:00Z", -11644473600LL, 0},
      {"9999-12-31T23:59:59.9999999Z", 253402300799LL, 999999},
  };
  for (const TimeCase &time_case : cases)
    {
      long long seconds = -12345;
      unsigned microseconds = 12345;
      cr_expect(parse_system_time(time_case.text, seconds, microseconds), "refused %s", time_case.text);
      cr_expect_eq(seconds, time_case.seconds, "%s: seconds %lld", time_case.text, seconds);
      cr_expect_eq(microseconds, time_case.microseconds, "%s: microseconds %u", time_case.text, microseconds);
    }
}

Test(system_time, invalid_times)
{
  const char *cases[] = {
      "",
      "garbage",
      "2024-05-01T10:00:00",             // no zone
      "2024-05-01T10:00:00.1234567",     // no zone
      "2024-05-01T10:00:00.Z",           // dot without digits
      "2024-05-01T10:00:00.1234567890Z", // ten digits
      "2024-05-01 10:00:00Z",
      "2024-05-01T10:00:00Zjunk",
      "2024-05-01T10:00:00z",
      "2024-13-01T10:00:00Z",
      "2024-00-01T10:00:00Z",
      "2023-02-29T10:00:00Z",
      "2024-04-31T10:00:00Z",
      "2024-05-01T24:00:00Z",
      "2024-05-01T10:60:00Z",
      "2024-05-01T10:00:61Z",
      "2024-05-01T10:00:00+0200",
      "2024-05-01T10:00:00+2:00",
      "2024-05-01T10:00:00+24:00",
      "24-05-01T10:00:00Z",
      "2024-5-01T10:00:00Z",
      "+2024-05-01T10:00:00Z",
      "2024-05-01T10:00:00.12a4Z",
  };
  for (const char *text : cases)
    {
      long long seconds = 0;
      unsigned microseconds = 0;
      cr_expect_not(parse_system_time(text, seconds, microseconds), "accepted \"%s\"", text);
    }
  long long seconds = 0;
  unsigned microseconds = 0;
  // Embedded NUL: the whole view counts, not a C string prefix.
  cr_expect_not(parse_system_time(std::string_view("2024-05-01T10:00:00Z\0x", 22), seconds, microseconds));
}

// ---------------------------------------------------------------------------------------------
// sdata_param_name

Test(sdata_param_name, maps_relative_names)
{
  const std::pair<const char *, const char *> cases[] = {
      {"Event.EventData.Data.TargetUserName", "TargetUserName"},
      {"Event.EventData.Data", "Data"},
      {"Event.EventData.Binary", "Binary"},
      {"Event.System.EventID", "EventID"},
      {"Event.System.Provider._Name", "Provider_Name"},
      {"Event.System.TimeCreated._SystemTime", "TimeCreated_SystemTime"},
      {"Event.System.Execution._ThreadID", "Execution_ThreadID"},
      {"Event.System.EventID._Qualifiers", "EventID_Qualifiers"},
      {"Event.UserData.CbsUpdateChangeState.UpdateName", "UpdateName"},
      {"Event.UserData.LogFileCleared.Sub.Item._attr", "Sub_Item_attr"},
      {"Event.RenderingInfo.Message", "Rendering_Message"},
      {"Event.RenderingInfo._Culture", "Rendering_Culture"},
      {"Event.RenderingInfo.Keywords.Keyword", "Rendering_Keywords_Keyword"},
      {"System.Computer", "Computer"},
      {"Other.Thing", "Other_Thing"},
      // payload fields named like System fields keep both values apart
      {"Event.EventData.Data.Channel", "Data_Channel"},
      {"Event.EventData.Data.Level", "Data_Level"},
      {"Event.UserData.LogFileCleared.Channel", "Data_Channel"},
      {"Event.EventData.Data.ChannelName", "ChannelName"},
  };
  for (const auto &[relative_name, expected] : cases)
    {
      const std::string actual = sdata_param_name(relative_name);
      cr_expect(actual == expected, "%s -> %s, expected %s", relative_name, actual.c_str(), expected);
    }
}

Test(sdata_param_name, replaces_forbidden_bytes)
{
  cr_expect(sdata_param_name("Event.EventData.Data.a=b]c\"d e") == "a_b_c_d_e");
  cr_expect(sdata_param_name("Event.EventData.Data.tab\there") == "tab_here");
  // Each byte of a multi-byte UTF-8 character is replaced.
  cr_expect(sdata_param_name("Event.EventData.Data.名") == "___");
  cr_expect(sdata_param_name(std::string_view("Event.EventData.Data.a\0b", 24)) == "a_b");
  cr_expect(sdata_param_name("Event.EventData.Data.x\x7f") == "x_");
}

Test(sdata_param_name, is_short_and_never_empty)
{
  const std::string long_name = sdata_param_name("Event.EventData.Data.ThisIsAVeryLongParameterNameOfMoreThan32Bytes");
  cr_expect_eq(long_name.size(), 32);
  cr_expect(long_name == "ThisIsAVeryLongParameterNameOfMo", "got %s", long_name.c_str());
  cr_expect(sdata_param_name("") == "_");
  cr_expect(sdata_param_name("Event.") == "_");
  cr_expect(sdata_param_name("Event.EventData.Data.") == "_");

  const std::string samples[] = {"Event.System.Provider._Name", "Event.RenderingInfo.Message", "a.b._c=d]e\"f g",
                                 "Event.UserData.X.Y.Z._w", std::string(100, '.')};
  for (const std::string &sample : samples)
    {
      const std::string name = sdata_param_name(sample);
      cr_expect(!name.empty() && name.size() <= 32, "bad length for %s", sample.c_str());
      for (unsigned char c : name)
        cr_expect(c >= 33 && c <= 126 && c != '=' && c != ']' && c != '"' && c != '.', "byte %u in %s", c,
                  name.c_str());
    }
}

Test(xml_parser, level_maps_to_syslog_severity)
{
  const char *levels[] = {"1", "2", "3", "4", "5"};
  const int severities[] = {2, 3, 4, 6, 7};
  for (std::size_t i = 0; i < 5; ++i)
    cr_expect_eq(syslog_severity(levels[i], 5), severities[i], "Level %s", levels[i]);
  for (const char *other : {"0", "", "6", "15", "01"})
    cr_expect_eq(syslog_severity(other, 5), 5, "Level '%s' takes log-always-severity()", other);
}
