// The dispatch page's live timeline: while the story is still being written, poll its JSON
// (the table's data-poll URL, same origin: the CSP allows nothing else) and redraw the rows
// with textContent only (never HTML from the server). Stops once settled, or after 5 minutes.
"use strict";
(function () {
  var table = document.getElementById("timeline");
  if (!table || !table.getAttribute("data-poll")) { return; }
  var url = table.getAttribute("data-poll");
  var live = document.getElementById("timeline-live");
  var status = document.getElementById("status");
  var deadline = Date.now() + 5 * 60 * 1000;
  function cell(row, text, label) {
    var td = document.createElement("td");
    td.textContent = text;
    td.setAttribute("data-label", label);
    row.appendChild(td);
  }
  function draw(story) {
    var body = document.createElement("tbody");
    story.stages.forEach(function (s) {
      var row = document.createElement("tr");
      row.setAttribute("data-kind", s.kind);
      cell(row, s.label, "Stage"); cell(row, s.at, "At");
      cell(row, s.spent, "Spent"); cell(row, s.detail, "Detail");
      body.appendChild(row);
    });
    table.replaceChild(body, table.tBodies[0]);
    if (status) {
      status.textContent = story.status;
      status.classList.toggle("bad", story.status === "failed");
    }
  }
  function poll() {
    fetch(url, {credentials: "same-origin", headers: {"Accept": "application/json"}})
      .then(function (r) { return r.ok ? r.json() : Promise.reject(r.status); })
      .then(function (story) {
        draw(story);
        if (story.settled) {
          if (live) { live.textContent = "Complete: " + story.status + "."; }
        } else if (Date.now() < deadline) {
          window.setTimeout(poll, 1000);
        }
      })
      .catch(function () {
        if (Date.now() < deadline) { window.setTimeout(poll, 3000); }
      });
  }
  window.setTimeout(poll, 500);
})();
