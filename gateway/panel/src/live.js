// Live refresh: re-reads today's counts and the list every period while the
// tab is visible, backs off after failures, and says how fresh the page is
// ("Updated 12 seconds ago").
//
// Polling rather than a server stream: agents report in batches seconds to a
// minute apart, the counts are per day, and a poll costs a few cheap reads
// (the per-day summary table and one page of the list) without holding a
// stream per open panel in the gateway and the service.
//
// createLiveRefresh is pure (timers, clock and visibility are injected), so
// its schedule is unit-tested under node (gateway/test/panel_live.test.js).

// Delay before the next poll after `failures` failures in a row: the period,
// doubled per failure, at most maxMs.
export function nextDelay(failures, periodMs, maxMs) {
  return Math.min(maxMs, periodMs * 2 ** Math.min(failures, 20));
}

// run: async () => void, throws on failure. busy: () => bool, true while the
// user is in the middle of something a refresh would disturb (then the poll
// waits a little). onChange(status) after every attempt.
export function createLiveRefresh({ periodMs, run, busy = () => false, onChange = () => {}, isHidden, now = () => Date.now(), setTimer = setTimeout, clearTimer = clearTimeout, maxBackoffMs = 5 * 60 * 1000, busyRetryMs = 3000 }) {
  let timer = null;
  let lastSuccess = now();
  let failures = 0;
  let inFlight = false;
  let stopped = periodMs <= 0;

  const status = () => ({ lastSuccess, failures, inFlight, stopped });
  function schedule(ms) {
    if (timer !== null) clearTimer(timer);
    timer = null;
    if (stopped || isHidden()) return;
    timer = setTimer(tick, ms);
  }
  async function tick() {
    timer = null;
    if (stopped || isHidden() || inFlight) return;
    if (busy()) {
      schedule(busyRetryMs);
      return;
    }
    inFlight = true;
    try {
      await run();
      lastSuccess = now();
      failures = 0;
    } catch {
      failures++;
    } finally {
      inFlight = false;
    }
    onChange(status());
    schedule(nextDelay(failures, periodMs, maxBackoffMs));
  }

  return {
    status,
    // The page loaded (or reloaded) everything by itself just now.
    markFresh() {
      lastSuccess = now();
      failures = 0;
      onChange(status());
      schedule(periodMs);
    },
    start() {
      schedule(periodMs);
    },
    // Call on visibilitychange: nothing runs while hidden; when the tab comes
    // back, a stale page refreshes at once, a fresh one at its next time.
    visibilityChanged() {
      if (isHidden()) {
        if (timer !== null) clearTimer(timer);
        timer = null;
        return;
      }
      const age = now() - lastSuccess;
      schedule(failures ? 0 : Math.max(0, periodMs - age));
    },
    // Refresh now (e.g. the user pressed "Update").
    now: () => tick(),
    stop() {
      stopped = true;
      if (timer !== null) clearTimer(timer);
      timer = null;
    },
  };
}

// "Updated 12 seconds ago" beside the list, re-rendered every second only
// when its text changes; a fixed width (CSS) so it never pushes the layout.
export function createUpdatedLabel(el, i18n) {
  let status = null;
  const render = () => {
    if (!status) return;
    const ago = i18n.ago((Date.now() - status.lastSuccess) / 1000);
    const text = status.failures ? i18n.t("live.failing", { ago }) : i18n.t("live.updated", { ago });
    if (el.textContent !== text) el.textContent = text;
    el.classList.toggle("eg-warn", status.failures > 0);
  };
  const interval = setInterval(render, 1000);
  return {
    update(s) {
      status = s;
      render();
    },
    stop: () => clearInterval(interval),
  };
}

// Re-reads something a few times with growing pauses, then gives up: for
// addresses whose name and owner are not looked up yet (the service looks
// them up in the background, seconds after it first sees them).
//   const retry = createRetrySchedule({ delaysMs: [2000, 5000, ...], run });
//   retry.want(keys)   after each render, with the keys still pending: a new
//                      key restarts the schedule; none stops it.
//   retry.gaveUp(key)  true once the schedule ran out for that key.
export function createRetrySchedule({ delaysMs, run, setTimer = setTimeout, clearTimer = clearTimeout }) {
  let attempt = 0;
  let timer = null;
  let known = new Set();
  let exhausted = new Set();
  return {
    want(keys) {
      const now = new Set(keys);
      const fresh = [...now].some((k) => !known.has(k) && !exhausted.has(k));
      known = now;
      exhausted = new Set([...exhausted].filter((k) => now.has(k)));
      if (now.size === 0) {
        if (timer !== null) clearTimer(timer);
        timer = null;
        attempt = 0;
        return;
      }
      if (fresh) attempt = 0;
      if (timer !== null) return;
      if (attempt >= delaysMs.length) {
        for (const k of now) exhausted.add(k);
        return;
      }
      timer = setTimer(async () => {
        timer = null;
        attempt++;
        try {
          await run();
        } catch {
          /* the next render decides */
        }
      }, delaysMs[attempt]);
    },
    gaveUp: (key) => exhausted.has(key),
    attempts: () => attempt,
    stop() {
      if (timer !== null) clearTimer(timer);
      timer = null;
    },
  };
}
