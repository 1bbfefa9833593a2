#include "service/abuse_webhook.h"

#include <curl/curl.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>

#include <mutex>

#include "absl/strings/escaping.h"
#include "absl/strings/str_cat.h"
#include "common/log.h"

namespace egress {
namespace {

size_t Discard(char*, size_t size, size_t count, void*) { return size * count; }

void InitCurlOnce() {
  static std::once_flag once;
  std::call_once(once, [] { curl_global_init(CURL_GLOBAL_DEFAULT); });
}

// The host of an http(s) URL, for logs (a URL may carry a token).
std::string HostOf(const std::string& url) {
  size_t start = url.find("://");
  start = start == std::string::npos ? 0 : start + 3;
  size_t end = url.find_first_of("/?#", start);
  std::string authority =
      url.substr(start, end == std::string::npos ? std::string::npos : end - start);
  size_t at = authority.rfind('@');
  return at == std::string::npos ? authority : authority.substr(at + 1);
}

bool Retryable(long code) { return code == 0 || code == 408 || code == 429 || code >= 500; }

}  // namespace

std::string WebhookSignature(const std::string& secret, const std::string& body) {
  unsigned char digest[EVP_MAX_MD_SIZE];
  unsigned int length = 0;
  HMAC(EVP_sha256(), secret.data(), static_cast<int>(secret.size()),
       reinterpret_cast<const unsigned char*>(body.data()), body.size(), digest, &length);
  return absl::StrCat("sha256=", absl::BytesToHexString(absl::string_view(
                                     reinterpret_cast<const char*>(digest), length)));
}

AbuseWebhook::AbuseWebhook(AbuseWebhookOptions options) : options_(std::move(options)) {
  InitCurlOnce();
  thread_ = std::thread([this] { Run(); });
}

AbuseWebhook::~AbuseWebhook() { Stop(); }

void AbuseWebhook::Stop() {
  {
    absl::MutexLock lock(&mutex_);
    stopping_ = true;
  }
  if (thread_.joinable()) thread_.join();
}

bool AbuseWebhook::Enqueue(const std::string& url, uint64_t incident_id, std::string body,
                           Done done) {
  absl::MutexLock lock(&mutex_);
  if (queue_.size() >= options_.max_queue) {
    ++stats_.dropped;
    LogWarning("abuse_webhook_dropped", {{"incident_id", incident_id}, {"reason", "queue full"}});
    return false;
  }
  queue_.push_back(Event{url, incident_id, std::move(body), std::move(done)});
  return true;
}

AbuseWebhookStats AbuseWebhook::stats() const {
  absl::MutexLock lock(&mutex_);
  return stats_;
}

long AbuseWebhook::Post(const Event& event) const {
  CURL* curl = curl_easy_init();
  if (curl == nullptr) return 0;
  curl_slist* headers = nullptr;
  headers = curl_slist_append(headers, "Content-Type: application/json");
  headers = curl_slist_append(headers, "X-Egress-Event: abuse.incident");
  headers =
      curl_slist_append(headers, absl::StrCat("X-Egress-Incident: ", event.incident_id).c_str());
  if (!options_.secret.empty()) {
    headers = curl_slist_append(
        headers, absl::StrCat("X-Egress-Signature: ", WebhookSignature(options_.secret, event.body))
                     .c_str());
  }
  curl_easy_setopt(curl, CURLOPT_URL, event.url.c_str());
  // Only what the policy allowed, and no redirects to anywhere else.
  curl_easy_setopt(curl, CURLOPT_PROTOCOLS_STR, "http,https");
  curl_easy_setopt(curl, CURLOPT_FOLLOWLOCATION, 0L);
  curl_easy_setopt(curl, CURLOPT_NOSIGNAL, 1L);
  curl_easy_setopt(curl, CURLOPT_TIMEOUT_MS,
                   static_cast<long>(absl::ToInt64Milliseconds(options_.timeout)));
  curl_easy_setopt(curl, CURLOPT_HTTPHEADER, headers);
  curl_easy_setopt(curl, CURLOPT_POSTFIELDS, event.body.data());
  curl_easy_setopt(curl, CURLOPT_POSTFIELDSIZE, static_cast<long>(event.body.size()));
  curl_easy_setopt(curl, CURLOPT_WRITEFUNCTION, Discard);
  long code = 0;
  const CURLcode result = curl_easy_perform(curl);
  if (result == CURLE_OK) curl_easy_getinfo(curl, CURLINFO_RESPONSE_CODE, &code);
  if (result != CURLE_OK) {
    LogWarning("abuse_webhook_error", {{"incident_id", event.incident_id},
                                       {"host", HostOf(event.url)},
                                       {"error", std::string(curl_easy_strerror(result))}});
  }
  curl_slist_free_all(headers);
  curl_easy_cleanup(curl);
  return code;
}

void AbuseWebhook::Run() {
  auto wait_until = [this](absl::Duration pause) {
    absl::MutexLock lock(&mutex_);
    mutex_.AwaitWithTimeout(absl::Condition(&stopping_), pause);
    return !stopping_;
  };
  while (true) {
    Event event;
    {
      absl::MutexLock lock(&mutex_);
      auto ready = [this]()
                       ABSL_SHARED_LOCKS_REQUIRED(mutex_) { return stopping_ || !queue_.empty(); };
      mutex_.Await(absl::Condition(&ready));
      if (stopping_) return;
      event = std::move(queue_.front());
      queue_.pop_front();
    }
    absl::Duration backoff = options_.first_backoff;
    for (int attempt = 1;; ++attempt) {
      const long code = Post(event);
      if (code >= 200 && code < 300) {
        {
          absl::MutexLock lock(&mutex_);
          ++stats_.delivered;
        }
        if (event.done) event.done(true);
        break;
      }
      {
        absl::MutexLock lock(&mutex_);
        ++stats_.attempts_failed;
      }
      LogWarning("abuse_webhook_attempt_failed", {{"incident_id", event.incident_id},
                                                  {"host", HostOf(event.url)},
                                                  {"status", static_cast<int64_t>(code)},
                                                  {"attempt", static_cast<int64_t>(attempt)}});
      if (!Retryable(code) || attempt >= options_.max_attempts) {
        {
          absl::MutexLock lock(&mutex_);
          ++stats_.failed;
        }
        if (event.done) event.done(false);
        break;
      }
      if (!wait_until(backoff)) return;
      backoff = std::min(backoff * 2, options_.max_backoff);
    }
  }
}

}  // namespace egress
