// Draws every <canvas data-chart="NAME"> from the Chart.js config in <script id="charts">.
(function () {
  var node = document.getElementById("charts");
  if (!node || !window.Chart) { return; }
  var configs = JSON.parse(node.textContent);
  Chart.defaults.font.family = "-apple-system, Segoe UI, Roboto, sans-serif";
  Chart.defaults.animation = false;  // pages are read, and screenshotted, at once
  document.querySelectorAll("canvas[data-chart]").forEach(function (canvas) {
    var config = configs[canvas.getAttribute("data-chart")];
    if (config) { new Chart(canvas, config); }
  });
})();
