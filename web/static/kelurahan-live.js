// Public live views (kelurahan plugin): reload the blurred snapshot every data-refresh seconds, without
// reloading the page; a picture that fails to load (camera offline) is retried at the next tick.
"use strict";
document.querySelectorAll("img[data-refresh]").forEach((img) => {
  const base = img.getAttribute("src").split("?")[0];
  const seconds = Math.max(1, Number(img.dataset.refresh) || 2);
  let loading = false;
  img.addEventListener("load", () => { loading = false; });
  img.addEventListener("error", () => { loading = false; });
  setInterval(() => {
    if (loading || document.hidden) return;
    loading = true;
    img.src = `${base}?t=${Date.now()}`;
  }, seconds * 1000);
});
