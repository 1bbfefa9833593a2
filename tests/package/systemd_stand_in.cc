#include "tests/package/systemd_stand_in.h"

#include <grp.h>
#include <pwd.h>
#include <signal.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <filesystem>
#include <fstream>

#include "absl/strings/match.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "absl/strings/str_split.h"
#include "absl/strings/strip.h"
#include "absl/time/clock.h"
#include "tests/package/unit_file.h"
#include "tests/support/files.h"

namespace egress::testing {
namespace {

namespace fs = std::filesystem;
constexpr char kUnitDir[] = "/lib/systemd/system/";
constexpr char kPath[] = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin";

std::string ShellQuote(const std::string& text) {
  std::string quoted = "'";
  for (char c : text) {
    if (c == '\'') {
      quoted += "'\\''";
    } else {
      quoted.push_back(c);
    }
  }
  return quoted + "'";
}

absl::Status MakeDirectory(const std::string& path, const std::string& mode_text, uid_t uid,
                           gid_t gid) {
  unsigned mode = 0755;
  if (!mode_text.empty()) mode = static_cast<unsigned>(std::stoul(mode_text, nullptr, 8));
  std::error_code error;
  fs::create_directories(path, error);
  if (error) return absl::InternalError(absl::StrCat("mkdir ", path, ": ", error.message()));
  if (chmod(path.c_str(), mode) != 0 || chown(path.c_str(), uid, gid) != 0) {
    return absl::InternalError(absl::StrCat("chmod/chown ", path, ": ", strerror(errno)));
  }
  return absl::OkStatus();
}

// Condition*= of the [Unit] section that look at paths; false if one fails.
bool ConditionsHold(const UnitFile& unit) {
  for (const char* key : {"ConditionPathExists", "ConditionFileNotEmpty"}) {
    for (const std::string& value : unit.Values("Unit", key)) {
      absl::string_view path_view = value;
      const bool negate = absl::ConsumePrefix(&path_view, "!");
      const std::string path(path_view);
      bool holds = fs::exists(path);
      if (holds && std::string(key) == "ConditionFileNotEmpty") holds = fs::file_size(path) > 0;
      if (holds == negate) return false;
    }
  }
  return true;
}

absl::Duration StopTimeout(const UnitFile& unit) {
  absl::Duration timeout = absl::Seconds(90);
  const std::string text = unit.Value("Service", "TimeoutStopSec");
  if (!text.empty() && !absl::ParseDuration(text, &timeout)) timeout = absl::Seconds(90);
  return timeout;
}

}  // namespace

absl::StatusOr<std::unique_ptr<SystemdStandIn>> SystemdStandIn::Create(const std::string& dir,
                                                                       const std::string& netns) {
  std::unique_ptr<SystemdStandIn> systemd(new SystemdStandIn());
  systemd->dir_ = dir;
  systemd->netns_ = netns;
  for (const char* sub : {"bin", "requests", "done", "active"}) {
    fs::create_directories(fs::path(dir) / sub);
  }
  {
    std::ofstream script(dir + "/bin/systemctl");
    script << systemd->SystemctlScript();
    if (!script.good()) return absl::InternalError("cannot write the stand-in systemctl");
  }
  std::ofstream(dir + "/bin/policy-rc.d") << "#!/bin/sh\n# Every action is allowed.\nexit 0\n";
  for (const char* script : {"/bin/systemctl", "/bin/policy-rc.d"}) {
    fs::permissions(dir + script, fs::perms::owner_all | fs::perms::group_read |
                                      fs::perms::group_exec | fs::perms::others_read |
                                      fs::perms::others_exec);
  }
  // The private mount namespace of dpkg mounts over /run/systemd, which
  // must exist for that; this host's systemd (if any) never sees the mount.
  if (!fs::exists("/run/systemd")) {
    fs::create_directory("/run/systemd");
    systemd->created_run_systemd_ = true;
  }
  return systemd;
}

SystemdStandIn::~SystemdStandIn() {
  std::vector<std::string> units;
  for (const auto& [unit, process] : running_) units.push_back(unit);
  for (const std::string& unit : units) (void)Stop(unit);
  if (created_run_systemd_) {
    std::error_code error;
    fs::remove("/run/systemd", error);
  }
}

std::string SystemdStandIn::SystemctlScript() const {
  // Unit-file verbs (preset, enable, is-enabled, ...) go to the real
  // systemctl, which edits and reads /etc/systemd/system offline; the
  // runtime ones are ours: deb-systemd-invoke asks is-active, then
  // start/restart/stop, and waits until the test has done it.
  return absl::StrCat(R"sh(#!/bin/sh
# systemctl of the package test: records every call, serves unit-file verbs
# with the real systemctl, hands start/stop/restart to the test and waits.
dir=)sh",
                      ShellQuote(dir_), R"sh(
verb=
units=
for arg in "$@"; do
  case "$arg" in
    -*) ;;
    *) if [ -z "$verb" ]; then verb=$arg; else units="$units $arg"; fi ;;
  esac
done
echo "$*" >>"$dir/calls"
case "$verb" in
  daemon-reload|daemon-reexec|reset-failed) ;;
  is-active)
    for unit in $units; do [ -e "$dir/active/$unit" ] || exit 3; done ;;
  start|stop|restart|try-restart)
    for unit in $units; do
      id=$(date +%s%N)
      echo "$verb $unit" >"$dir/requests/$id.tmp" && mv "$dir/requests/$id.tmp" "$dir/requests/$id"
      waited=0
      while [ ! -e "$dir/done/$id" ]; do
        waited=$((waited + 1))
        [ $waited -gt 2400 ] && exit 1
        sleep 0.05
      done
      [ "$(cat "$dir/done/$id")" = ok ] || exit 1
    done ;;
  # --root: offline, on the unit files (our /run/systemd/system would make
  # it look for a running manager).
  *) exec /bin/systemctl --root=/ "$@" ;;
esac
exit 0
)sh");
}

CommandResult SystemdStandIn::Dpkg(const std::vector<std::string>& args, absl::Duration timeout) {
  // Container images of Debian carry a policy-rc.d that forbids every
  // start (exit 101, so that `apt-get install` in an image build starts
  // nothing); a node has none. dpkg here sees one that allows.
  std::string dpkg = absl::StrCat(
      "mount -t tmpfs -o mode=0755,size=1m egress-package-test /run/systemd && ",
      "mkdir /run/systemd/system && if [ -e /usr/sbin/policy-rc.d ]; then mount --bind ", dir_,
      "/bin/policy-rc.d /usr/sbin/policy-rc.d; fi && ", "exec /usr/bin/nsenter --net=/run/netns/",
      netns_, " -- /usr/bin/env PATH=", dir_, "/bin:", kPath,
      " DEBIAN_FRONTEND=noninteractive /usr/bin/dpkg");
  for (const std::string& arg : args) absl::StrAppend(&dpkg, " ", ShellQuote(arg));
  CommandResult result;
  absl::StatusOr<std::unique_ptr<ChildProcess>> child = ChildProcess::Start(
      {"/usr/bin/unshare", "--mount", "--propagation", "private", "--", "/bin/sh", "-c", dpkg});
  if (!child.ok()) {
    result.err = std::string(child.status().message());
    return result;
  }
  const absl::Time deadline = absl::Now() + timeout;
  while (true) {
    Serve();
    absl::StatusOr<int> code = (*child)->Wait(absl::Milliseconds(50));
    if (code.ok()) {
      Serve();
      result.exit_code = *code;
      break;
    }
    if (absl::Now() > deadline) break;
  }
  result.out = (*child)->out();
  result.err = (*child)->err();
  return result;
}

void SystemdStandIn::Serve() {
  std::vector<fs::path> pending;
  std::error_code error;
  for (const fs::directory_entry& entry : fs::directory_iterator(dir_ + "/requests", error)) {
    if (entry.path().extension() != ".tmp") pending.push_back(entry.path());
  }
  std::sort(pending.begin(), pending.end());
  for (const fs::path& request : pending) {
    const std::string text(absl::StripAsciiWhitespace(ReadFileText(request)));
    const std::vector<std::string> words = absl::StrSplit(text, ' ');
    absl::Status status = absl::InvalidArgumentError(absl::StrCat("request ", text));
    if (words.size() == 2) {
      const std::string& unit = words[1];
      if (words[0] == "start") status = Start(unit);
      if (words[0] == "stop") status = Stop(unit);
      if (words[0] == "restart") status = Restart(unit);
      if (words[0] == "try-restart") status = Running(unit) ? Restart(unit) : absl::OkStatus();
    }
    requests_.push_back(status.ok() ? text : absl::StrCat(text, " FAILED: ", status.message()));
    std::ofstream(fs::path(dir_) / "done" / request.filename()) << (status.ok() ? "ok" : "failed");
    fs::remove(request, error);
  }
}

absl::Status SystemdStandIn::Start(const std::string& unit_name) {
  if (Running(unit_name)) return absl::OkStatus();
  absl::StatusOr<UnitFile> unit = UnitFile::Read(kUnitDir + unit_name);
  if (!unit.ok()) return unit.status();
  const std::string log = absl::StrCat(dir_, "/", unit_name, ".log");
  if (!ConditionsHold(*unit)) {
    std::ofstream(log, std::ios::app) << "[stand-in] condition failed: not started\n";
    return absl::OkStatus();
  }
  std::string user = unit->Value("Service", "User", "root");
  std::string group = unit->Value("Service", "Group");
  if (unit->Value("Service", "DynamicUser") == "yes") {
    user = "nobody";
    group = "nogroup";
  }
  const passwd* account = getpwnam(user.c_str());
  if (account == nullptr) return absl::NotFoundError(absl::StrCat(unit_name, ": no user ", user));
  const uid_t uid = account->pw_uid;
  gid_t gid = account->pw_gid;
  if (!group.empty()) {
    const struct group* entry = getgrnam(group.c_str());
    if (entry == nullptr) return absl::NotFoundError(absl::StrCat(unit_name, ": no group ", group));
    gid = entry->gr_gid;
  }

  absl::StatusOr<std::map<std::string, std::string>> environment = unit->ServiceEnvironment();
  if (!environment.ok()) return environment.status();
  (*environment)["PATH"] = kPath;
  for (const std::string& names : unit->Values("Service", "StateDirectory")) {
    for (absl::string_view name : absl::StrSplit(names, ' ', absl::SkipEmpty())) {
      const std::string path = absl::StrCat("/var/lib/", name);
      absl::Status made =
          MakeDirectory(path, unit->Value("Service", "StateDirectoryMode"), uid, gid);
      if (!made.ok()) return made;
      (*environment)["STATE_DIRECTORY"] = path;
    }
  }
  runtime_dirs_[unit_name].clear();
  for (const std::string& names : unit->Values("Service", "RuntimeDirectory")) {
    for (absl::string_view name : absl::StrSplit(names, ' ', absl::SkipEmpty())) {
      const std::string path = absl::StrCat("/run/", name);
      absl::Status made =
          MakeDirectory(path, unit->Value("Service", "RuntimeDirectoryMode"), uid, gid);
      if (!made.ok()) return made;
      runtime_dirs_[unit_name].push_back(path);
      (*environment)["RUNTIME_DIRECTORY"] = path;
    }
  }
  absl::StatusOr<std::vector<std::string>> argv = unit->ExecStart(*environment);
  if (!argv.ok()) return argv.status();

  std::string command = absl::StrCat("exec /usr/bin/nsenter --net=/run/netns/", netns_, " --");
  if (uid != 0) {
    absl::StrAppend(&command, " /usr/bin/setpriv --reuid=", uid, " --regid=", gid,
                    user == "nobody" ? " --clear-groups" : " --init-groups", " --");
  }
  absl::StrAppend(&command, " /usr/bin/env -i");
  for (const auto& [name, value] : *environment) {
    absl::StrAppend(&command, " ", ShellQuote(absl::StrCat(name, "=", value)));
  }
  for (const std::string& arg : *argv) absl::StrAppend(&command, " ", ShellQuote(arg));
  absl::StrAppend(&command, " 2>>", ShellQuote(log));
  std::ofstream(log, std::ios::app) << "[stand-in] start: " << absl::StrJoin(*argv, " ") << "\n";
  absl::StatusOr<std::unique_ptr<ChildProcess>> child =
      ChildProcess::Start({"/bin/sh", "-c", command});
  if (!child.ok()) return child.status();
  running_[unit_name] = std::move(*child);
  std::ofstream(absl::StrCat(dir_, "/active/", unit_name)) << "";
  return absl::OkStatus();
}

absl::Status SystemdStandIn::Stop(const std::string& unit_name) {
  auto found = running_.find(unit_name);
  absl::Status status = absl::OkStatus();
  if (found != running_.end()) {
    absl::Duration timeout = absl::Seconds(90);
    int signal_number = SIGTERM;
    absl::StatusOr<UnitFile> unit = UnitFile::Read(kUnitDir + unit_name);
    if (unit.ok()) {
      timeout = StopTimeout(*unit);
      if (unit->Value("Service", "KillSignal") == "SIGINT") signal_number = SIGINT;
    }
    found->second->Signal(signal_number);
    absl::StatusOr<int> code = found->second->Wait(timeout);
    if (!code.ok()) {
      found->second->Signal(SIGKILL);
      (void)found->second->Wait(absl::Seconds(10));
      status = absl::DeadlineExceededError(
          absl::StrCat(unit_name, " did not stop within TimeoutStopSec: killed"));
    }
    std::ofstream(absl::StrCat(dir_, "/", unit_name, ".log"), std::ios::app)
        << "[stand-in] stopped: exit " << (code.ok() ? *code : -1) << "\n";
    running_.erase(found);
  }
  std::error_code error;
  for (const std::string& path : runtime_dirs_[unit_name]) fs::remove_all(path, error);
  runtime_dirs_.erase(unit_name);
  fs::remove(absl::StrCat(dir_, "/active/", unit_name), error);
  return status;
}

absl::Status SystemdStandIn::Restart(const std::string& unit) {
  absl::Status stopped = Stop(unit);
  if (!stopped.ok()) return stopped;
  return Start(unit);
}

bool SystemdStandIn::Running(const std::string& unit) {
  auto found = running_.find(unit);
  if (found == running_.end()) return false;
  if (found->second->Wait(absl::ZeroDuration()).ok()) {
    std::ofstream(absl::StrCat(dir_, "/", unit, ".log"), std::ios::app)
        << "[stand-in] exited by itself\n";
    running_.erase(found);
    std::error_code error;
    fs::remove(absl::StrCat(dir_, "/active/", unit), error);
    return false;
  }
  return true;
}

ChildProcess* SystemdStandIn::Process(const std::string& unit) {
  return Running(unit) ? running_[unit].get() : nullptr;
}

std::string SystemdStandIn::Log(const std::string& unit) const {
  return ReadFileText(absl::StrCat(dir_, "/", unit, ".log"));
}

std::vector<std::string> SystemdStandIn::TakeRequests() {
  std::vector<std::string> taken;
  taken.swap(requests_);
  return taken;
}

std::string SystemdStandIn::Calls() const { return ReadFileText(dir_ + "/calls"); }

}  // namespace egress::testing
