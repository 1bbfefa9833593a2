// The live refresh's schedule with fake timers: period, back-off after
// failures, nothing while hidden, at once when coming back stale.
import assert from "node:assert/strict";
import { test } from "node:test";
import { createLiveRefresh, createRetrySchedule, nextDelay } from "../panel/src/live.js";

function fakeTimers() {
  let now = 0;
  let seq = 0;
  const timers = new Map();
  return {
    now: () => now,
    setTimer: (fn, ms) => (timers.set(++seq, { fn, at: now + ms }), seq),
    clearTimer: (id) => timers.delete(id),
    pending: () => [...timers.values()].map((t) => t.at - now),
    // Runs timers due within ms, in order; awaits their promises.
    async advance(ms) {
      const end = now + ms;
      for (;;) {
        const due = [...timers.entries()].filter(([, t]) => t.at <= end).sort((a, b) => a[1].at - b[1].at)[0];
        if (!due) break;
        timers.delete(due[0]);
        now = due[1].at;
        await due[1].fn();
      }
      now = end;
    },
  };
}

test("nextDelay doubles per failure up to the cap", () => {
  assert.deepEqual([0, 1, 2, 3, 4, 10].map((f) => nextDelay(f, 30000, 300000)), [30000, 60000, 120000, 240000, 300000, 300000]);
});

test("polls every period, backs off on failures, recovers", async () => {
  const clock = fakeTimers();
  const calls = [];
  let fail = false;
  const statuses = [];
  const live = createLiveRefresh({ periodMs: 1000, run: async () => (calls.push(clock.now()), fail ? Promise.reject(new Error("down")) : null), isHidden: () => false, onChange: (s) => statuses.push(s), ...clock });
  live.start();
  await clock.advance(3000);
  assert.deepEqual(calls, [1000, 2000, 3000]);
  fail = true;
  await clock.advance(1000); // 4000 fails → next in 2000
  await clock.advance(2000); // 6000 fails → next in 4000
  assert.deepEqual(calls.slice(3), [4000, 6000]);
  assert.equal(statuses.at(-1).failures, 2);
  fail = false;
  await clock.advance(4000); // 10000 works → back to the period
  await clock.advance(1000);
  assert.deepEqual(calls.slice(5), [10000, 11000]);
  assert.equal(statuses.at(-1).failures, 0);
  assert.equal(statuses.at(-1).lastSuccess, 11000);
});

test("nothing runs while hidden; back visible and stale, it runs at once", async () => {
  const clock = fakeTimers();
  let hidden = false;
  const calls = [];
  const live = createLiveRefresh({ periodMs: 1000, run: async () => calls.push(clock.now()), isHidden: () => hidden, ...clock });
  live.start();
  await clock.advance(1000);
  hidden = true;
  live.visibilityChanged();
  await clock.advance(10000);
  assert.deepEqual(calls, [1000]);
  assert.deepEqual(clock.pending(), []);
  hidden = false;
  live.visibilityChanged();
  await clock.advance(0);
  assert.deepEqual(calls, [1000, 11000]);
});

test("back visible while still fresh: waits for the rest of the period", async () => {
  const clock = fakeTimers();
  let hidden = false;
  const calls = [];
  const live = createLiveRefresh({ periodMs: 1000, run: async () => calls.push(clock.now()), isHidden: () => hidden, ...clock });
  live.markFresh();
  await clock.advance(300);
  hidden = true;
  live.visibilityChanged();
  await clock.advance(200);
  hidden = false;
  live.visibilityChanged();
  assert.deepEqual(clock.pending(), [500]);
});

test("busy (a dialog open) postpones a poll instead of skipping the schedule", async () => {
  const clock = fakeTimers();
  let busy = true;
  const calls = [];
  const live = createLiveRefresh({ periodMs: 1000, busyRetryMs: 300, run: async () => calls.push(clock.now()), busy: () => busy, isHidden: () => false, ...clock });
  live.start();
  await clock.advance(1600);
  assert.deepEqual(calls, []);
  busy = false;
  await clock.advance(300);
  assert.deepEqual(calls, [1900]);
});

test("a period of 0 never polls", async () => {
  const clock = fakeTimers();
  let n = 0;
  const live = createLiveRefresh({ periodMs: 0, run: async () => n++, isHidden: () => false, ...clock });
  live.start();
  live.markFresh();
  await clock.advance(100000);
  assert.equal(n, 0);
});

test("retry schedule: a few growing pauses per new pending key, then it gives up", async () => {
  const clock = fakeTimers();
  let pending = ["203.0.113.9"];
  const runs = [];
  const retry = createRetrySchedule({ delaysMs: [100, 200, 400], run: async () => (runs.push(clock.now()), retry.want(pending)), ...clock });
  retry.want(pending);
  await clock.advance(10000);
  assert.deepEqual(runs, [100, 300, 700]);
  assert.equal(retry.gaveUp("203.0.113.9"), true);
  // A new pending address starts a new round; the old one stays given up.
  pending = ["203.0.113.9", "198.51.100.1"];
  retry.want(pending);
  await clock.advance(150);
  assert.deepEqual(runs.slice(3), [10100]);
  // Resolved: nothing pending, nothing scheduled.
  pending = [];
  await clock.advance(300);
  assert.deepEqual(clock.pending(), []);
});
