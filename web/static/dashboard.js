// Refreshes the thumbnails of the dashboard tiles that are on screen, one at a time, every 30 s.
(function () {
  "use strict";
  const tiles = Array.from(document.querySelectorAll(".tile img"));
  const onScreen = new Set();
  const watcher = new IntersectionObserver((entries) => {
    for (const e of entries) { if (e.isIntersecting) onScreen.add(e.target); else onScreen.delete(e.target); }
  });
  tiles.forEach((img) => {
    watcher.observe(img);
    img.addEventListener("error", () => img.classList.add("missing"));
    img.addEventListener("load", () => img.classList.remove("missing"));
  });
  setInterval(() => {
    for (const img of onScreen) {
      const base = img.src.split("?")[0];
      img.src = base + "?t=" + Date.now();
    }
  }, 30000);
})();
