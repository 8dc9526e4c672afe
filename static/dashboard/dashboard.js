/* The metric dashboard: draws the charts from the figures rendered into the page, then
   refreshes every figure from /api/v1/metrics/ (admin session) every N seconds, unless
   paused. Charts never rely on colour alone: every bar carries its value as text, its
   name on the axis, severities also get distinct fill patterns, and a table sits beside
   each chart. Chart.js is vendored in static/vendor/chartjs/. */
(function () {
  "use strict";
  const root = document.querySelector(".fl-dashboard");
  if (!root || typeof Chart === "undefined") { return; }
  const apiUrl = root.dataset.api;
  const groupUrl = root.dataset.groupUrl;
  const refreshMs = Number(root.dataset.refreshSeconds || 30) * 1000;
  const style = getComputedStyle(document.documentElement);
  const fg = style.getPropertyValue("--body-fg").trim() || "#333";
  const grid = style.getPropertyValue("--hairline-color").trim() || "#ddd";
  const accent = style.getPropertyValue("--primary").trim() || "#79aec8";

  // Text labels with each bar's value, drawn after the bars (no plugin dependency).
  const valueLabels = {
    id: "flValueLabels",
    afterDatasetsDraw(chart) {
      const ctx = chart.ctx;
      const horizontal = chart.options.indexAxis === "y";
      ctx.save();
      ctx.fillStyle = fg;
      ctx.font = "12px sans-serif";
      chart.data.datasets.forEach((dataset, i) => {
        const meta = chart.getDatasetMeta(i);
        if (meta.hidden) { return; }
        meta.data.forEach((bar, j) => {
          const value = dataset.data[j];
          if (!horizontal && chart.data.labels.length > 48) { return; } // too dense: axis + table
          const text = Number(value).toLocaleString();
          if (horizontal) {
            ctx.textAlign = "left"; ctx.textBaseline = "middle";
            ctx.fillText(text, bar.x + 4, bar.y);
          } else if (value > 0) {
            ctx.textAlign = "center"; ctx.textBaseline = "bottom";
            ctx.fillText(text, bar.x, bar.y - 2);
          }
        });
      });
      ctx.restore();
    },
  };

  // Distinct fills for the severities: readable in greyscale and for colour-blind readers.
  function pattern(kind) {
    const c = document.createElement("canvas");
    c.width = c.height = 10;
    const p = c.getContext("2d");
    p.fillStyle = "#ffffff"; p.fillRect(0, 0, 10, 10);
    p.strokeStyle = p.fillStyle = "#333333"; p.lineWidth = 2;
    if (kind === 0) { p.fillRect(0, 0, 10, 10); }
    else if (kind === 1) { p.beginPath(); p.moveTo(0, 10); p.lineTo(10, 0); p.stroke(); }
    else if (kind === 2) { p.beginPath(); p.arc(5, 5, 2, 0, 2 * Math.PI); p.fill(); }
    else { p.beginPath(); p.moveTo(0, 5); p.lineTo(10, 5); p.stroke(); }
    return p.createPattern(c, "repeat");
  }
  const severityFills = [0, 1, 2, 3].map(pattern);

  function pretty(name) { return name.replace(/_/g, " ").toLowerCase().replace(/^./, (c) => c.toUpperCase()); }
  function hourLabel(iso, span) { return span > 48 ? iso.slice(5, 13).replace("T", " ") + "h" : iso.slice(11, 16); }

  function barChart(canvas, horizontal, extra) {
    return new Chart(canvas, {
      type: "bar",
      data: { labels: [], datasets: [{ label: "Errors", data: [], borderColor: fg, borderWidth: 1,
                                      backgroundColor: accent, ...extra }] },
      options: {
        indexAxis: horizontal ? "y" : "x",
        responsive: true, maintainAspectRatio: false, animation: false,
        layout: { padding: { right: horizontal ? 48 : 0, top: horizontal ? 0 : 16 } },
        plugins: { legend: { display: false } },
        scales: {
          x: { ticks: { color: fg, autoSkip: true, maxRotation: 0 }, grid: { color: grid }, beginAtZero: true },
          y: { ticks: { color: fg, precision: 0 }, grid: { color: grid }, beginAtZero: true },
        },
      },
      plugins: [valueLabels],
    });
  }

  const charts = {
    trend: barChart(document.getElementById("fl-chart-trend"), false, {}),
    category: barChart(document.getElementById("fl-chart-category"), true, {}),
    severity: barChart(document.getElementById("fl-chart-severity"), true, { backgroundColor: severityFills }),
  };

  function setText(name, text) {
    document.querySelectorAll(`[data-figure="${name}"]`).forEach((el) => { el.textContent = text; });
  }
  function cell(text) { const td = document.createElement("td"); td.textContent = text; return td; }
  function fillTable(id, rows, empty, columns) {
    const body = document.getElementById(id);
    body.replaceChildren();
    if (!rows.length) { const tr = document.createElement("tr"); const td = cell(empty); td.colSpan = columns; tr.append(td); body.append(tr); return; }
    rows.forEach((cells) => { const tr = document.createElement("tr"); tr.append(...cells); body.append(tr); });
  }
  function lag(seconds) {
    if (seconds < 120) { return `${Math.round(seconds)} s`; }
    if (seconds < 7200) { return `${Math.round(seconds / 60)} min`; }
    return `${(seconds / 3600).toFixed(1)} h`;
  }

  function render(m) {
    const n = (v) => Number(v).toLocaleString();
    setText("total", n(m.total));
    setText("open_groups", n(m.system.open_groups));
    setText("health_score", m.health_score.toFixed(1));
    // No outcome reported is not 0 % recovered; the health score still counts it as 0.
    const none = m.recovery.rate === null;
    setText("recovery_rate", none ? "No outcomes reported" : `${m.recovery.rate.toFixed(1)} %`);
    setText("recovery_detail", none ? "The health score counts it as 0 %"
      : `${n(m.recovery.succeeded)} of ${n(m.recovery.results)} errors recovered; ${n(m.recovery.unknown)} handled without an outcome`);
    setText("digest_lag", lag(m.system.digest_lag_seconds));
    setText("open_circuits", n(m.system.open_circuits));
    setText("pending_dead_letters", n(m.system.pending_dead_letters));
    setText("spool", `${n(m.system.spool_bytes)} bytes, oldest ${lag(m.system.spool_age_seconds)}`);

    const span = m.trend.length;
    charts.trend.data.labels = m.trend.map((p) => hourLabel(p.hour, span));
    charts.trend.data.datasets[0].data = m.trend.map((p) => p.count);
    charts.category.data.labels = m.by_category.map((r) => pretty(r.category));
    charts.category.data.datasets[0].data = m.by_category.map((r) => r.count);
    charts.severity.data.labels = m.by_severity.map((r) => pretty(r.severity));
    charts.severity.data.datasets[0].data = m.by_severity.map((r) => r.count);
    Object.values(charts).forEach((chart) => chart.update());

    fillTable("fl-table-trend", m.trend.map((p) => [cell(p.hour.slice(0, 16).replace("T", " ")), cell(n(p.count))]), "No hours.", 2);
    fillTable("fl-table-category", m.by_category.map((r) => [cell(r.category), cell(n(r.count))]), "", 2);
    fillTable("fl-table-severity", m.by_severity.map((r) => [cell(r.severity), cell(n(r.count))]), "", 2);
    fillTable("fl-table-groups", m.top_groups.map((g) => {
      const link = document.createElement("a");
      link.href = groupUrl.replace("/0/", `/${g.group}/`);
      link.textContent = g.title || `Group ${g.group}`;
      const first = document.createElement("td"); first.append(link);
      return [first, cell(g.service), cell(g.status), cell(n(g.count)), cell(g.last_seen.slice(0, 16).replace("T", " "))];
    }), "No errors in this range.", 5);
    fillTable("fl-table-codes", m.top_codes.map((c) => [cell(c.code || "—"), cell(n(c.count)), cell(c.last_seen.slice(0, 16).replace("T", " "))]), "No errors in this range.", 3);
    root.dataset.loaded = m.generated_at;
  }

  const status = document.getElementById("fl-status");
  const rangeSelect = document.getElementById("fl-range");
  const serviceSelect = document.getElementById("fl-service");
  const pauseButton = document.getElementById("fl-pause");
  let paused = false;
  let timer = null;

  async function refresh() {
    const params = new URLSearchParams({ range: rangeSelect.value });
    if (serviceSelect.value) { params.set("service", serviceSelect.value); }
    try {
      const response = await fetch(`${apiUrl}?${params}`, { credentials: "same-origin", headers: { Accept: "application/json" } });
      const body = await response.json();
      if (!response.ok) { throw new Error(body.message || response.statusText); }
      render(body);
      status.textContent = `Hourly resolution · updated ${new Date().toLocaleTimeString()}${paused ? " · paused" : ""}`;
    } catch (error) {
      status.textContent = `Could not refresh: ${error.message}`;
    }
  }
  function schedule() {
    clearInterval(timer);
    if (!paused) { timer = setInterval(refresh, refreshMs); }
  }
  function syncUrl() {
    const params = new URLSearchParams({ range: rangeSelect.value });
    if (serviceSelect.value) { params.set("service", serviceSelect.value); }
    history.replaceState(null, "", `?${params}`);
    // The cards' links follow the selectors (their data-*-param name the list's filters).
    document.querySelectorAll(".fl-card a").forEach((a) => {
      const url = new URL(a.href);
      if (a.dataset.rangeParam) { url.searchParams.set(a.dataset.rangeParam, rangeSelect.value); }
      if (a.dataset.serviceParam) {
        url.searchParams.delete(a.dataset.serviceParam);
        if (serviceSelect.value) { url.searchParams.set(a.dataset.serviceParam, serviceSelect.value); }
      }
      a.href = `${url.pathname}${url.search}`;
    });
  }
  [rangeSelect, serviceSelect].forEach((el) => el.addEventListener("change", () => {
    document.getElementById("fl-range-note")?.remove();
    syncUrl(); refresh(); schedule();
  }));
  pauseButton.addEventListener("click", () => {
    paused = !paused;
    pauseButton.setAttribute("aria-pressed", String(paused));
    pauseButton.textContent = paused ? "Resume auto-refresh" : "Pause auto-refresh";
    if (!paused) { refresh(); }
    schedule();
  });
  document.getElementById("fl-controls").addEventListener("submit", (event) => { event.preventDefault(); refresh(); });

  render(JSON.parse(document.getElementById("fl-initial").textContent));
  schedule();
})();
