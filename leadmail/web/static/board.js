// The pipeline board: drag a card to another column (SortableJS) to move its lead. The card's
// own form does the same without JavaScript; this posts that form's fields and updates the card.
(function () {
  if (!window.Sortable) { return; }
  var status = document.getElementById("board-status");
  function say(text) { if (status) { status.textContent = text; } }
  function recount() {
    document.querySelectorAll(".col").forEach(function (col) {
      col.querySelector(".count").textContent = col.querySelectorAll("li.card").length;
    });
  }
  document.querySelectorAll("ul.cards").forEach(function (list) {
    new Sortable(list, {
      group: "board", animation: 0, delay: 150, delayOnTouchOnly: true, forceFallback: true,
      filter: "select, button, a",
      preventOnFilter: false,
      onEnd: function (ev) {
        if (ev.from === ev.to) { return; }
        var card = ev.item, stage = ev.to.getAttribute("data-stage");
        var form = card.querySelector("form.move");
        var body = new URLSearchParams(new FormData(form));
        body.set("stage", stage);
        function undo(text) {
          ev.from.insertBefore(card, ev.from.children[ev.oldIndex] || null);
          recount(); say(text);
        }
        fetch(form.action, { method: "POST", body: body, credentials: "same-origin",
                             headers: { "Accept": "application/json" } })
          .then(function (r) { return r.json().catch(function () { return { ok: false, detail: "HTTP " + r.status }; }); })
          .then(function (answer) {
            if (!answer.ok) { undo("Not moved: " + (answer.detail || answer.status)); return; }
            card.setAttribute("data-stage", answer.stage);
            card.querySelector(".in-stage").textContent = answer.in_stage;
            var label = card.querySelector(".in-stage").parentNode;
            label.firstChild.textContent = "In " + answer.stage + " for ";
            form.querySelector("select").value = answer.stage;
            recount();
            say(card.querySelector(".name").textContent + " moved to " + answer.stage);
          })
          .catch(function () { undo("Not moved: the server did not answer"); });
      }
    });
  });
})();
