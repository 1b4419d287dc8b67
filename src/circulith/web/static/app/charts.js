// Render every <div class="chart" data-chart='{"kind","title","labels","values"}'> with the vendored ECharts.
(function () {
  "use strict";
  function render(el) {
    var spec = JSON.parse(el.getAttribute("data-chart"));
    var chart = echarts.init(el, null, { renderer: "canvas" });
    var option;
    if (spec.kind === "pie") {
      option = {
        tooltip: { trigger: "item" },
        series: [{ type: "pie", radius: ["35%", "65%"], data: spec.labels.map(function (l, i) { return { name: l, value: spec.values[i] }; }) }]
      };
    } else {
      option = {
        tooltip: { trigger: "axis" },
        grid: { left: 48, right: 12, top: 16, bottom: 56 },
        xAxis: { type: "category", data: spec.labels, axisLabel: { rotate: spec.labels.length > 6 ? 40 : 0 } },
        yAxis: { type: "value" },
        series: [{ type: "bar", data: spec.values, itemStyle: { color: "#2b7a5b" } }]
      };
    }
    option.animation = false;
    chart.setOption(option);
    el.setAttribute("data-rendered", String(spec.values.length));
    window.addEventListener("resize", function () { chart.resize(); });
  }
  function renderAll() { document.querySelectorAll("div.chart[data-chart]").forEach(render); }
  if (document.readyState === "loading") { document.addEventListener("DOMContentLoaded", renderAll); } else { renderAll(); }
})();
