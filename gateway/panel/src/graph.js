// The graph at the bottom of the page: connections per day (ACCEPT and
// REJECT bars) for every day with data, drawn with uPlot. Clicking a day
// selects it. The legend below the graph always shows real numbers: the day
// under the pointer, else the selected day.
import uPlot from "uplot";
import "uplot/dist/uPlot.min.css";
import { h } from "./dom.js";
import { dateKey } from "./date_picker.js";

const kHeight = 220;
const kColors = { accept: "#1f7a3f", reject: "#b3261e" };

export function createGraph({ i18n, onSelectDay }) {
  const { t } = i18n;
  const title = h("h3", { id: "eg-chart-title", text: t("graph.title") });
  const state = h("p", { class: "eg-summary", id: "eg-chart-state" });
  const box = h("div", { class: "eg-chart", id: "eg-chart", role: "img", "aria-label": t("graph.title") });
  const legendDay = h("span", { class: "eg-legend-day" });
  const legendAccept = h("span", { class: "eg-legend-value", id: "eg-legend-accept" });
  const legendReject = h("span", { class: "eg-legend-value", id: "eg-legend-reject" });
  const legend = h(
    "p",
    { class: "eg-chart-legend", id: "eg-chart-legend" },
    legendDay,
    h("span", { class: "eg-legend-item" }, h("span", { class: "eg-swatch eg-swatch-accept", "aria-hidden": "true" }), "ACCEPT ", legendAccept),
    h("span", { class: "eg-legend-item" }, h("span", { class: "eg-swatch eg-swatch-reject", "aria-hidden": "true" }), "REJECT ", legendReject),
  );
  const el = h("div", { class: "eg-graph" }, title, state, box, legend);

  let days = [];
  let selected = "";
  let plot = null;

  function showLegend(i) {
    const d = days[i];
    legend.hidden = !d;
    if (!d) return;
    legendDay.textContent = `${i18n.day(d.date)}:`;
    legendAccept.textContent = i18n.count(d.accepted, d.incomplete);
    legendReject.textContent = i18n.count(d.rejected, d.incomplete);
  }
  const selectedIndex = () => {
    const i = days.findIndex((d) => dateKey(d.date) === selected);
    return i >= 0 ? i : days.length - 1;
  };

  function describe() {
    const incomplete = days.some((d) => d.incomplete);
    state.textContent = `${t("graph.days", { n: days.length })} ${t("graph.clickHint")}${incomplete ? ` ${t("graph.incomplete")}` : ""}`;
    box.setAttribute(
      "aria-label",
      `${t("graph.days", { n: days.length })} ` +
        days
          .slice(-7)
          .map((d) => t("graph.dayText", { day: i18n.day(d.date), accepted: i18n.count(d.accepted, d.incomplete), rejected: i18n.count(d.rejected, d.incomplete) }))
          .join("; "),
    );
  }

  function draw() {
    box.dataset.days = String(days.length);
    box.dataset.incompleteDays = String(days.filter((d) => d.incomplete).length);
    if (days.length === 0) {
      plot?.destroy();
      plot = null;
      box.replaceChildren();
      box.classList.add("eg-chart-empty");
      state.textContent = t("graph.none");
      legend.hidden = true;
      return;
    }
    box.classList.remove("eg-chart-empty");
    describe();
    const xs = days.map((d) => Date.UTC(d.date.year, d.date.month - 1, d.date.day) / 1000);
    const acc = days.map((d) => Number(d.accepted));
    const rej = days.map((d) => Number(d.rejected));
    // Same days: new counts only (live refresh), drawn in place.
    if (plot && plot.data[0].length === xs.length && plot.data[0].every((x, i) => x === xs[i])) {
      plot.setData([xs, acc, rej]);
      showLegend(selectedIndex());
      return;
    }
    plot?.destroy();
    box.replaceChildren();
    const bars = (align) => uPlot.paths.bars({ size: [0.4, 40], align });
    plot = new uPlot(
      {
        width: Math.max(280, box.clientWidth || 600),
        height: kHeight,
        tzDate: (ts) => uPlot.tzDate(new Date(ts * 1000), "Etc/UTC"),
        scales: {
          x: { time: true, range: (u) => [u.data[0][0] - 86400, u.data[0][u.data[0].length - 1] + 86400] },
          y: { range: (u, min, max) => [0, Math.max(1, max) * 1.1] },
        },
        axes: [
          {
            // One label per day (or per few days when they do not fit), as dates.
            space: 52,
            incrs: [86400, 2 * 86400, 7 * 86400, 14 * 86400, 28 * 86400, 91 * 86400, 365 * 86400],
            values: (u, splits) => splits.map((v) => i18n.dayShort(utcDay(v))),
          },
          { size: 60, values: (u, vals) => vals.map((v) => i18n.number(v)) },
        ],
        series: [{}, { label: "ACCEPT", stroke: kColors.accept, fill: "rgba(31,122,63,0.75)", paths: bars(-1), points: { show: false } }, { label: "REJECT", stroke: kColors.reject, fill: "rgba(179,38,30,0.75)", paths: bars(1), points: { show: false } }],
        cursor: { drag: { x: false, y: false }, points: { show: false } },
        legend: { show: false },
        hooks: {
          setCursor: [(u) => showLegend(u.cursor.idx ?? selectedIndex())],
          draw: [
            (u) => {
              const ctx = u.ctx;
              ctx.save();
              ctx.font = `${Math.round(12 * devicePixelRatio)}px sans-serif`;
              ctx.textAlign = "center";
              days.forEach((d, i) => {
                const x = u.valToPos(u.data[0][i], "x", true);
                if (dateKey(d.date) === selected) {
                  ctx.fillStyle = "rgba(30,80,200,0.12)";
                  const w = Math.max(6, (u.valToPos(u.data[0][i] + 43200, "x", true) - x) * 1.6);
                  ctx.fillRect(x - w / 2, u.bbox.top, w, u.bbox.height);
                }
                if (d.incomplete) {
                  const y = u.valToPos(Math.max(u.data[1][i], u.data[2][i]), "y", true);
                  ctx.fillStyle = "#8a5a00";
                  ctx.fillText("≥", x, y - 4 * devicePixelRatio);
                }
              });
              ctx.restore();
            },
          ],
        },
      },
      [xs, acc, rej],
      box,
    );
    plot.over.addEventListener("click", () => {
      const i = plot.cursor.idx;
      if (i != null && days[i]) onSelectDay(dateKey(days[i].date));
    });
    plot.over.addEventListener("mouseleave", () => showLegend(selectedIndex()));
    plot.over.style.cursor = "pointer";
    showLegend(selectedIndex());
  }

  new ResizeObserver(() => {
    if (plot && box.clientWidth && Math.abs(plot.width - box.clientWidth) > 8) plot.setSize({ width: box.clientWidth, height: kHeight });
  }).observe(box);

  return {
    el,
    chart: () => plot,
    setDays(list) {
      days = list;
      draw();
    },
    setSelected(key) {
      selected = key;
      plot?.redraw(false, false);
      if (days.length) showLegend(selectedIndex());
    },
    setLoading() {
      if (!plot) state.textContent = t("graph.loading");
    },
    setError(text, retry) {
      // The Retry button sits beside the message: the graph box is an image
      // to screen readers and holds nothing one can press.
      state.replaceChildren(text, h("button", { type: "button", class: "eg-retry", text: t("common.retry"), onclick: retry }));
      plot?.destroy();
      plot = null;
      legend.hidden = true;
      box.replaceChildren();
      box.classList.add("eg-chart-empty");
    },
  };
}

function utcDay(seconds) {
  const d = new Date(seconds * 1000);
  return { year: d.getUTCFullYear(), month: d.getUTCMonth() + 1, day: d.getUTCDate() };
}
