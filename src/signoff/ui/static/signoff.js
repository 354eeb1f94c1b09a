// signoff UI: keyboard shortcuts and live queue updates. No dependencies.
// Everything received from the server is written with textContent, never as HTML.
(function () {
  "use strict";

  function isTyping(el) {
    if (!el) return false;
    var tag = el.tagName;
    return tag === "INPUT" || tag === "TEXTAREA" || tag === "SELECT" || el.isContentEditable;
  }

  function toggleHelp(show) {
    var help = document.getElementById("shortcut-help");
    if (!help) return;
    help.hidden = show === undefined ? !help.hidden : !show;
  }

  // ---- Keyboard shortcuts -------------------------------------------------
  document.addEventListener("keydown", function (event) {
    if (event.ctrlKey || event.metaKey || event.altKey) return;
    if (event.key === "Escape") {
      toggleHelp(false);
      if (isTyping(document.activeElement)) document.activeElement.blur();
      return;
    }
    if (isTyping(event.target)) return;
    if (event.key === "?") {
      toggleHelp();
      event.preventDefault();
      return;
    }
    if (/^[1-9]$/.test(event.key)) {
      var select = document.querySelector("select[data-label-shortcuts]");
      var options = select ? Array.prototype.filter.call(select.options, function (o) { return o.value; }) : [];
      var option = options[Number(event.key) - 1];
      if (option) {
        select.value = option.value;
        select.dispatchEvent(new Event("change", { bubbles: true }));
        event.preventDefault();
      }
      return;
    }
    var target = document.querySelector('[data-shortcut="' + event.key.toLowerCase() + '"]');
    if (!target || event.key.length !== 1) return;
    event.preventDefault();
    if (target.getAttribute("data-shortcut-action") === "focus") {
      target.focus();
    } else if (!target.disabled) {
      target.click();
    }
  });

  // ---- Small form helpers -------------------------------------------------
  document.addEventListener("click", function (event) {
    var button = event.target.closest ? event.target.closest("[data-confirm]") : null;
    if (button && !window.confirm(button.getAttribute("data-confirm"))) event.preventDefault();
  });
  document.addEventListener("change", function (event) {
    if (event.target.hasAttribute && event.target.hasAttribute("data-autosubmit")) event.target.form.submit();
  });
  // Disable submit buttons once a form is on its way, so a double key press is one decision.
  document.addEventListener("submit", function (event) {
    var form = event.target;
    if (form.dataset.sent) { event.preventDefault(); return; }
    form.dataset.sent = "1";
  });
  window.addEventListener("pageshow", function (event) {
    if (!event.persisted) return;
    document.querySelectorAll("form[data-sent]").forEach(function (f) { delete f.dataset.sent; });
  });

  // ---- Live queue ---------------------------------------------------------
  function duration(seconds) {
    if (seconds === null || seconds === undefined) return "—";
    var s = Number(seconds);
    if (s < 60) return s < 10 ? s.toFixed(1) + " s" : Math.round(s) + " s";
    if (s < 3600) return Math.round(s / 60) + " min";
    if (s < 86400) return (s / 3600).toFixed(1) + " h";
    return (s / 86400).toFixed(1) + " d";
  }

  function cell(text, className) {
    var td = document.createElement("td");
    if (className) td.className = className;
    td.textContent = text;
    return td;
  }

  function takeCell(task) {
    // The same form the server renders: POST with the page's CSRF token.
    var td = document.createElement("td");
    var token = document.querySelector("input[name=csrf_token]");
    var form = document.createElement("form");
    form.method = "post";
    form.action = "/ui/tasks/" + encodeURIComponent(task.task_id) + "/claim";
    form.className = "inline";
    var hidden = document.createElement("input");
    hidden.type = "hidden";
    hidden.name = "csrf_token";
    hidden.value = token ? token.value : "";
    var button = document.createElement("button");
    button.type = "submit";
    button.className = "btn small";
    button.textContent = "Review";
    form.appendChild(hidden);
    form.appendChild(button);
    td.appendChild(form);
    return td;
  }

  function taskRow(task) {
    var tr = document.createElement("tr");
    tr.setAttribute("data-task-id", String(task.task_id));
    tr.className = "new-row" + (task.overdue ? " overdue" : "");
    var link = document.createElement("a");
    link.href = "/ui/items/" + encodeURIComponent(task.item_id);
    link.textContent = "#" + task.item_id;
    var first = document.createElement("td");
    first.appendChild(link);
    tr.appendChild(first);
    tr.appendChild(cell(task.preview || "", "preview"));
    tr.appendChild(cell(task.workflow));
    tr.appendChild(cell(task.ai_label || "—"));
    tr.appendChild(cell(task.confidence === null ? "—" : Number(task.confidence).toFixed(2), "num"));
    var reasons = cell((task.reason_texts || []).join("; "), "reasons opt");
    reasons.title = (task.reasons || []).join(", ");
    tr.appendChild(reasons);
    tr.appendChild(cell("just now", "nowrap"));
    tr.appendChild(cell(task.due_at ? task.due_at.replace("T", " ").slice(0, 19) + " UTC" : "—",
                        "nowrap opt"));
    tr.appendChild(takeCell(task));
    return tr;
  }

  function applyQueue(root, data, state) {
    var counts = data.counts || {};
    root.querySelectorAll("[data-count]").forEach(function (el) {
      var key = el.getAttribute("data-count");
      if (key in counts) el.textContent = String(counts[key]);
    });
    root.querySelectorAll("[data-age]").forEach(function (el) {
      el.textContent = duration(counts[el.getAttribute("data-age")]);
    });
    (counts.workflows || []).forEach(function (w) {
      var row = null;
      root.querySelectorAll("#workflows tr[data-workflow]").forEach(function (tr) {
        if (tr.getAttribute("data-workflow") === w.workflow) row = tr;
      });
      if (!row) return;
      row.querySelectorAll("[data-field]").forEach(function (td) {
        var field = td.getAttribute("data-field");
        td.textContent = field === "oldest_age_seconds" ? duration(w[field]) : String(w[field]);
      });
    });
    var tasks = data.new_tasks || [];
    var body = root.querySelector("#unassigned tbody");
    if (body && tasks.length) {
      var empty = body.querySelector(".empty-row");
      if (empty) empty.remove();
      tasks.forEach(function (task) {
        if (body.querySelector('tr[data-task-id="' + task.task_id + '"]')) return;
        body.insertBefore(taskRow(task), body.firstChild);
        state.arrived += 1;
      });
      var badge = document.getElementById("new-count");
      if (badge && state.arrived) {
        badge.hidden = false;
        badge.textContent = state.arrived + " new";
      }
    }
    document.title = (counts.open ? "(" + counts.open + ") " : "") + state.baseTitle;
  }

  function startQueueStream() {
    var root = document.getElementById("queue");
    if (!root || !window.EventSource) return;
    var status = document.getElementById("live-status");
    var text = status ? status.querySelector(".live-text") : null;
    var state = { arrived: 0, baseTitle: document.title };
    var source = new EventSource(root.getAttribute("data-stream"));
    source.addEventListener("open", function () {
      if (status) status.classList.add("on");
      if (text) text.textContent = "Live: new items appear here without reloading";
    });
    source.addEventListener("error", function () {
      if (status) status.classList.remove("on");
      if (text) text.textContent = "Reconnecting…";
    });
    source.addEventListener("queue", function (event) {
      try {
        applyQueue(root, JSON.parse(event.data), state);
      } catch (err) {
        if (window.console) console.error(err);
      }
    });
    window.addEventListener("pagehide", function () { source.close(); });
  }

  if (document.readyState === "loading") {
    document.addEventListener("DOMContentLoaded", startQueueStream);
  } else {
    startQueueStream();
  }
})();
