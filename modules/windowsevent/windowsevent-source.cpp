#include "windowsevent-source.hpp"

#include "bookmarks/redis-bookmark-store.hpp"

#include "cpp-start.h"
#include "ack-tracker/ack_tracker.h"
#include "ack-tracker/ack_tracker_factory.h"
#include "ack-tracker/bookmark.h"
#include "ack-tracker/consecutive_ack_tracker.h"
#include "hostname.h"
#include "messages.h"
#include "stats/stats-registry.h"
#include "cpp-end.h"

namespace wec::module {

namespace {

// What a message's ack-tracker bookmark carries: the channel to report to and the message's sequence.
struct AckBookmark
{
  WakeChannel *channel;
  std::uint64_t sequence;
};
static_assert(sizeof(AckBookmark) <= MAX_BOOKMARK_DATA_LENGTH, "bookmark container");

// Destination thread: the consecutive tracker calls this for the last message of every
// contiguous acknowledged range, in order.
void save_ack_bookmark(Bookmark *bookmark)
{
  auto *data = reinterpret_cast<AckBookmark *>(&bookmark->container);
  data->channel->acknowledge(data->sequence);
  data->channel->wake();
}

void destroy_ack_bookmark(Bookmark *bookmark)
{
  auto *data = reinterpret_cast<AckBookmark *>(&bookmark->container);
  data->channel->unref();
}

} // namespace

void log_line(LogLevel level, const std::string &message, const LogTags &tags)
{
  int priority = EVT_PRI_DEBUG;
  switch (level)
    {
    case LogLevel::Error: priority = EVT_PRI_ERR; break;
    case LogLevel::Warning: priority = EVT_PRI_WARNING; break;
    case LogLevel::Notice: priority = EVT_PRI_NOTICE; break;
    case LogLevel::Info: priority = EVT_PRI_INFO; break;
    case LogLevel::Debug:
      if (!debug_flag)
        return;
      break;
    }
  EVTREC *event = msg_event_create(priority, message.c_str(), NULL);
  for (const auto &tag : tags)
    evt_rec_add_tag(event, evt_tag_str(tag.name, tag.value.c_str()));
  msg_event_suppress_recursions_and_send(event);
}

SourceDriver::SourceDriver(LogThreadedSourceDriver *super) : super_(super), wake_(new WakeChannel()) {}

SourceDriver::~SourceDriver()
{
  wake_->unref(); // messages still in flight hold their own references
}

std::string SourceDriver::persist_base() const
{
  // Not derived from ports or listeners: adding kerberos() or moving a port keeps the bookmarks.
  // Several windowsevent() sources serving the same identities need their own persist-name().
  const gchar *persist_name = super_->super.super.super.persist_name;
  return persist_name && *persist_name ? persist_name : "default";
}

bool SourceDriver::init()
{
  if (options.hostname.empty())
    options.hostname = get_local_hostname_fqdn();
  GlobalConfig *cfg = log_pipe_get_config(&super_->super.super.super);
  WakeChannel *wake = wake_;
  // The stores' wake-ups run on the main thread (persist file) or the store's own (Redis); the
  // driver's own reference keeps `wake` alive.
  if (options.redis.enabled)
    {
      options.redis.expiry_seconds = bookmark_expiry_seconds;
      bookmarks_ = std::make_unique<RedisBookmarkStore>(
          options.redis, [wake]() { wake->wake(); }, log_line);
    }
  else
    {
      persist_ = std::make_unique<PersistFileEntries>(cfg->state);
      auto chunked = std::make_unique<ChunkedBookmarkStore>(
          *persist_, persist_base(), [wake]() { wake->wake(); }, log_line);
      chunked->load_all(std::chrono::seconds(bookmark_expiry_seconds));
      bookmarks_ = std::move(chunked);
    }
  messages_ = std::make_unique<EventMessages>(message, log_line);
  service_ = Service::start(options, *this, *bookmarks_, *wake_, log_line);
  if (!service_)
    deinit();
  return service_ != nullptr;
}

void SourceDriver::deinit()
{
  service_.reset();
  messages_.reset();
  bookmarks_.reset();
  persist_.reset();
}

void SourceDriver::request_exit()
{
  exit_requested_.store(true);
  wake_->wake();
}

void SourceDriver::wakeup() { wake_->wake(); }

void SourceDriver::run() { service_->run(exit_requested_); }

bool SourceDriver::window_open() { return adapter::free_to_send(super_); }

std::uint64_t SourceDriver::acknowledged_through() { return wake_->acknowledged(); }

std::uint64_t SourceDriver::post(const ForwardedEvent &event)
{
  LogMessage *msg = messages_->build(event);
  const std::uint64_t sequence = ++next_sequence_;
  Bookmark *bookmark = ack_tracker_request_bookmark(adapter::ack_tracker(super_));
  auto *data = reinterpret_cast<AckBookmark *>(&bookmark->container);
  wake_->ref();
  data->channel = wake_;
  data->sequence = sequence;
  bookmark->save = save_ack_bookmark;
  bookmark->destroy = destroy_ack_bookmark;
  adapter::post(super_, msg);
  return sequence;
}

} // namespace wec::module

/* ---- C glue: syslog-ng calls these, they forward to the C++ object ---- */

namespace {

gboolean windowsevent_sd_init(LogPipe *s)
{
  try
    {
      if (!driver_of(s)->init())
        return FALSE;
    }
  catch (const std::exception &e)
    {
      msg_error("windowsevent: initialisation failed", evt_tag_str("error", e.what()), NULL);
      return FALSE;
    }
  if (!log_threaded_source_driver_init_method(s))
    {
      driver_of(s)->deinit();
      return FALSE;
    }
  return TRUE;
}

gboolean windowsevent_sd_deinit(LogPipe *s)
{
  gboolean result = log_threaded_source_driver_deinit_method(s);
  driver_of(s)->deinit();
  return result;
}

void windowsevent_sd_free(LogPipe *s)
{
  delete driver_of(s);
  log_threaded_source_driver_free_method(s);
}

} // namespace

extern "C" LogDriver *windowsevent_sd_new(GlobalConfig *cfg)
{
  auto *self = g_new0(WindowsEventSourceDriver, 1);
  log_threaded_source_driver_init_instance(&self->super, cfg);
  self->cpp = new wec::module::SourceDriver(&self->super);

  self->super.worker_options.ack_tracker_factory = consecutive_ack_tracker_factory_new();
  self->super.worker_options.super.stats_source = stats_register_type("windowsevent");
  /* HOST comes from the event's Computer and the timestamp from TimeCreated: keep both by
   * default (keep-hostname(no) / keep-timestamp(no) still override). */
  self->super.worker_options.super.keep_timestamp = TRUE;
  self->super.worker_options.super.keep_hostname = TRUE;

  self->super.super.super.super.init = windowsevent_sd_init;
  self->super.super.super.super.deinit = windowsevent_sd_deinit;
  self->super.super.super.super.free_fn = windowsevent_sd_free;
  wec::module::adapter::install(&self->super);
  return &self->super.super.super;
}
