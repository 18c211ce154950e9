// Live sections: every element with data-live="NAME" is replaced by the server's fragment for
// NAME whenever it changes, over server-sent events (no reload, no framework, no CDN).
// Fragments are rendered and escaped by the server's templates; nothing from a message is
// ever turned into markup here.
(function () {
  "use strict";
  const sections = Array.from(document.querySelectorAll("[data-live]"));
  if (sections.length === 0 || !window.EventSource) return;
  const badge = document.getElementById("live");
  const query = sections
    .map((el) => "section=" + encodeURIComponent(el.dataset.live))
    .join("&");
  const source = new EventSource("/events?" + query);
  source.addEventListener("open", () => {
    badge.hidden = false;
    badge.classList.remove("down");
    badge.textContent = "live";
  });
  source.addEventListener("error", () => {
    badge.hidden = false;
    badge.classList.add("down");
    badge.textContent = "reconnecting";
  });
  source.addEventListener("section", (event) => {
    let update;
    try {
      update = JSON.parse(event.data);
    } catch (_) {
      return;
    }
    for (const el of sections) {
      if (el.dataset.live === update.section) el.innerHTML = update.html;
    }
  });
})();
