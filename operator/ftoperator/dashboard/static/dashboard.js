// FT-Agent dashboard: draws the plotly figures a page carries and keeps the page live by
// fetching its own fragment (?fragment=1) every few seconds, redrawing only what changed.
(function () {
  "use strict";

  function drawCharts(root) {
    root.querySelectorAll("script.figure").forEach(function (node) {
      var target = document.getElementById(node.dataset.target);
      if (!target || typeof Plotly === "undefined") return;
      var fig = JSON.parse(node.textContent);
      Plotly.react(target, fig.data || [], fig.layout || {}, {
        responsive: true,
        displaylogo: false,
      });
    });
  }

  function applyFilter() {
    var input = document.getElementById("filter");
    if (!input) return;
    var query = input.value.trim().toLowerCase();
    document.querySelectorAll("table.filterable tbody tr").forEach(function (row) {
      row.hidden = query !== "" && row.textContent.toLowerCase().indexOf(query) < 0;
    });
  }

  var last = null;

  function refresh() {
    var url = new URL(window.location.href);
    url.searchParams.set("fragment", "1");
    fetch(url, { cache: "no-store" })
      .then(function (response) {
        return response.ok ? response.text() : null;
      })
      .then(function (html) {
        if (html === null || html === last) return;
        var first = last === null;
        last = html;
        if (first) return; // the page was rendered from the same state
        var live = document.getElementById("live");
        live.innerHTML = html;
        drawCharts(live);
        applyFilter();
        document.body.dataset.updates = String(Number(document.body.dataset.updates || 0) + 1);
      })
      .catch(function () {});
  }

  document.addEventListener("DOMContentLoaded", function () {
    drawCharts(document);
    var input = document.getElementById("filter");
    if (input) input.addEventListener("input", applyFilter);
    var every = Number(document.body.dataset.refreshMs || 2000);
    refresh();
    window.setInterval(refresh, every);
  });
})();
