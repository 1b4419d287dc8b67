// Render every <div class="chart" data-chart='{...}'> with the vendored ECharts.
// Kinds: "bar"/"pie" (labels, values), "grouped" (labels, series[{name, values}], optional line),
// "band" (columns year, median, lower, upper: median line with the interval as a shaded band),
// "map" (places with lat/lon, rows from_id/to_id/../tonnes, outline: URL of a GeoJSON of country outlines).
(function () {
  "use strict";
  var GREEN = "#2b7a5b";
  function done(el, chart, n) {
    el.setAttribute("data-rendered", String(n));
    window.addEventListener("resize", function () { chart.resize(); });
  }
  function simple(spec) {
    if (spec.kind === "pie") {
      return {
        tooltip: { trigger: "item" },
        series: [{ type: "pie", radius: ["35%", "65%"], data: spec.labels.map(function (l, i) { return { name: l, value: spec.values[i] }; }) }]
      };
    }
    return {
      tooltip: { trigger: "axis" },
      grid: { left: 56, right: 12, top: 16, bottom: 56 },
      xAxis: { type: "category", data: spec.labels, axisLabel: { rotate: spec.labels.length > 6 ? 40 : 0 } },
      yAxis: { type: "value" },
      series: [{ type: "bar", data: spec.values, itemStyle: { color: GREEN } }]
    };
  }
  function grouped(spec) {
    return {
      tooltip: { trigger: "axis" }, legend: { top: 0 },
      grid: { left: 64, right: 12, top: 32, bottom: 48 },
      xAxis: { type: "category", data: spec.labels },
      yAxis: { type: "value" },
      series: spec.series.map(function (s) { return { name: s.name, type: spec.line ? "line" : "bar", data: s.values, showSymbol: false }; })
    };
  }
  function band(spec) {
    var years = spec.rows.map(function (r) { return r[0]; });
    var lower = spec.rows.map(function (r) { return r[2]; });
    var width = spec.rows.map(function (r) { return r[3] - r[2]; });
    var median = spec.rows.map(function (r) { return r[1]; });
    return {
      tooltip: { trigger: "axis" },
      grid: { left: 72, right: 12, top: 16, bottom: 32 },
      xAxis: { type: "category", data: years, boundaryGap: false },
      yAxis: { type: "value" },
      series: [
        { name: "median", type: "line", data: median, showSymbol: false, lineStyle: { color: GREEN, width: 2 }, z: 3 },
        { name: "lower", type: "line", data: lower, stack: "band", showSymbol: false, lineStyle: { opacity: 0 } },
        { name: "interval", type: "line", data: width, stack: "band", showSymbol: false, lineStyle: { opacity: 0 },
          areaStyle: { color: GREEN, opacity: 0.25 } }
      ]
    };
  }
  function mapOption(spec) {
    var byId = {};
    spec.places.forEach(function (p) { byId[p.id] = p; });
    var maxT = Math.max.apply(null, spec.rows.map(function (r) { return r[3]; }).concat([1]));
    var lines = spec.rows.filter(function (r) { return byId[r[0]] && byId[r[1]]; }).map(function (r) {
      return { name: r[0] + " → " + r[1] + " (" + r[2] + ", " + r[3] + " t)",
               coords: [[byId[r[0]].lon, byId[r[0]].lat], [byId[r[1]].lon, byId[r[1]].lat]],
               lineStyle: { width: 1 + 5 * r[3] / maxT } };
    });
    var points = spec.places.map(function (p) {
      return { name: p.id + " " + p.name + " (" + p.kind + ")", value: [p.lon, p.lat],
               itemStyle: { color: p.opened ? GREEN : (p.kind === "source" ? "#c57b14" : "#ffffff"), borderColor: GREEN },
               symbolSize: p.opened ? 12 : 7 };
    });
    return {
      tooltip: { trigger: "item", formatter: function (p) { return p.name; } },
      geo: { map: "europe", roam: true, boundingCoords: [[-11, 61], [26, 36]],
             itemStyle: { areaColor: "#eef2ef", borderColor: "#9aa8a0" }, emphasis: { disabled: true } },
      series: [
        { name: "flows", type: "lines", coordinateSystem: "geo", data: lines, lineStyle: { color: "#15392c", opacity: 0.6, curveness: 0.15 } },
        { name: "sites", type: "scatter", coordinateSystem: "geo", data: points }
      ]
    };
  }
  function render(el) {
    var spec = JSON.parse(el.getAttribute("data-chart"));
    var chart = echarts.init(el, null, { renderer: "canvas" });
    if (spec.kind === "map") {
      fetch(spec.outline).then(function (r) { return r.json(); }).then(function (geo) {
        if (!echarts.getMap("europe")) { echarts.registerMap("europe", geo); }
        var option = mapOption(spec);
        option.animation = false;
        chart.setOption(option);
        done(el, chart, spec.rows.length);
      });
      return;
    }
    var option = spec.kind === "grouped" ? grouped(spec) : spec.kind === "band" ? band(spec) : simple(spec);
    option.animation = false;
    chart.setOption(option);
    var n = spec.kind === "band" ? spec.rows.length : spec.kind === "grouped" ? spec.labels.length : spec.values.length;
    done(el, chart, n);
  }
  function renderAll() { document.querySelectorAll("div.chart[data-chart]").forEach(render); }
  if (document.readyState === "loading") { document.addEventListener("DOMContentLoaded", renderAll); } else { renderAll(); }
})();
