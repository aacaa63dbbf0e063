// The compliance dashboard's charts. The data comes from <script type="application/json"> elements that
// Django's json_script filter writes; no inline script anywhere (the Content Security Policy forbids it).
// Each chart has a table and a sentence beside it in the page, so nothing depends on this file.
(function () {
  "use strict";

  // Distinguishable for common colour-vision deficiencies (Okabe and Ito), dark enough on white.
  const COLOURS = ["#1d4e89", "#d55e00", "#009e73", "#cc79a7", "#0072b2", "#e69f00", "#56b4e9", "#000000", "#999999"];
  // Lines differ by dash and point shape too, so colour is not the only cue.
  const DASHES = [[], [6, 4], [2, 3], [10, 3, 2, 3], [4, 4], [1, 2], [8, 2], [3, 6], [12, 4]];
  const POINTS = ["circle", "rect", "triangle", "rectRot", "star", "crossRot", "rectRounded", "cross", "line"];
  const FUNCTION_COLOURS = ["#1d4e89", "#e69f00", "#009e73"];
  const BAR_HEIGHT = 34;

  function readData(id) {
    const element = document.getElementById(id);
    return element ? JSON.parse(element.textContent) : null;
  }

  function percentTick(value) {
    return value + "%";
  }

  function coverageChart(canvas, data) {
    return new window.Chart(canvas, {
      type: "line",
      data: {
        labels: data.labels,
        datasets: data.series.map((series, i) => ({
          label: series.label,
          data: series.values,
          borderColor: COLOURS[i % COLOURS.length],
          backgroundColor: COLOURS[i % COLOURS.length],
          borderDash: DASHES[i % DASHES.length],
          pointStyle: POINTS[i % POINTS.length],
          pointRadius: 5,
          borderWidth: i === 0 && data.series.length > 1 ? 4 : 2,
          spanGaps: true,
          tension: 0,
        })),
      },
      options: {
        responsive: true,
        maintainAspectRatio: false,
        scales: {
          y: { min: 0, max: 100, ticks: { callback: percentTick }, title: { display: true, text: "Held and signed" } },
        },
        plugins: {
          legend: { position: "bottom", labels: { usePointStyle: true } },
          tooltip: { callbacks: { label: (item) => `${item.dataset.label}: ${item.formattedValue}%` } },
        },
      },
    });
  }

  function balanceChart(canvas, data) {
    // One bar per setting or supervisor: the box grows with them so each stays readable.
    canvas.parentElement.style.height = `${Math.max(160, data.labels.length * BAR_HEIGHT + 80)}px`;
    return new window.Chart(canvas, {
      type: "bar",
      data: {
        labels: data.labels,
        datasets: data.series.map((series, i) => ({
          label: series.label,
          data: series.values,
          backgroundColor: FUNCTION_COLOURS[i % FUNCTION_COLOURS.length],
          borderColor: "#ffffff",
          borderWidth: 1,
        })),
      },
      options: {
        indexAxis: "y",
        responsive: true,
        maintainAspectRatio: false,
        scales: {
          x: { stacked: true, min: 0, max: 100, ticks: { callback: percentTick } },
          y: { stacked: true },
        },
        plugins: {
          legend: { position: "bottom" },
          tooltip: { callbacks: { label: (item) => `${item.dataset.label}: ${item.formattedValue}%` } },
        },
      },
    });
  }

  const DRAW = { coverage: coverageChart, balance: balanceChart };

  document.addEventListener("DOMContentLoaded", () => {
    if (!window.Chart) {
      return;
    }
    if (window.matchMedia("(prefers-reduced-motion: reduce)").matches) {
      window.Chart.defaults.animation = false;
    }
    window.Chart.defaults.font.family = getComputedStyle(document.body).fontFamily;
    window.Chart.defaults.color = "#212529";
    document.querySelectorAll(".chart-box[data-chart]").forEach((box) => {
      const data = readData(box.dataset.source);
      const canvas = box.querySelector("canvas");
      const draw = DRAW[box.dataset.chart];
      if (data && canvas && draw) {
        // Shown only once there is a chart to show; the table and the sentence are there anyway.
        box.classList.add("chart-ready");
        draw(canvas, data);
      }
    });
  });
})();
