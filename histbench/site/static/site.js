// histbench site: small, dependency-free helpers. Everything works without them except
// filtering and switching views.
(function () {
  "use strict";
  var filter = document.querySelector(".hb-filter");
  if (filter) {
    filter.addEventListener("input", function () {
      var words = filter.value.toLowerCase().split(/\s+/).filter(Boolean);
      document.querySelectorAll(".group").forEach(function (group) {
        var shown = 0;
        group.querySelectorAll(".hb-row").forEach(function (row) {
          var name = row.getAttribute("data-name");
          var match = words.every(function (w) { return name.indexOf(w) !== -1; });
          row.hidden = !match;
          if (match) { shown += 1; }
        });
        group.hidden = shown === 0;
      });
    });
  }
  document.querySelectorAll(".hb-axis").forEach(function (button) {
    button.addEventListener("click", function () {
      var axis = button.getAttribute("data-axis");
      document.querySelectorAll(".hb-axis").forEach(function (b) {
        b.classList.toggle("active", b === button);
      });
      document.querySelectorAll(".axis-order").forEach(function (e) { e.hidden = axis !== "order"; });
      document.querySelectorAll(".axis-date").forEach(function (e) { e.hidden = axis !== "date"; });
    });
  });
  var whole = document.querySelector(".hb-whole");
  if (whole) {
    whole.addEventListener("change", function () {
      document.querySelectorAll(".x-data").forEach(function (e) { e.hidden = whole.checked; });
      document.querySelectorAll(".x-whole").forEach(function (e) { e.hidden = !whole.checked; });
    });
  }
  var chunk = document.querySelector(".hb-chunk");
  if (chunk) {
    chunk.addEventListener("change", function () {
      document.querySelectorAll("figure.plot").forEach(function (fig, i) {
        fig.hidden = String(i) !== chunk.value;
      });
    });
  }
  var nav = document.querySelector(".hb-nav");
  if (nav) {
    nav.addEventListener("change", function () { window.location.href = nav.value; });
  }
})();
