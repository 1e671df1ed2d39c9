// Camera page: refreshing live picture, a zoomable day timeline (recorded, gaps, events) that plays on click,
// stepping between events, and the event list.
(function () {
  "use strict";
  const viewer = document.getElementById("viewer");
  const cam = viewer.dataset.camera;
  const dayStart = Number(viewer.dataset.dayStart), dayEnd = Number(viewer.dataset.dayEnd);
  const line = document.getElementById("timeline"), axis = document.getElementById("axis");
  const player = document.getElementById("player"), playing = document.getElementById("playing");
  const live = document.getElementById("live"), cursor = document.getElementById("cursor");
  const HOUR = 3600e6, CLIP = 30 * 60e6;
  let view = [dayStart, dayEnd], data = null, playFrom = null;

  const fmt = (us) => new Date(us / 1000).toISOString().slice(11, 19);
  const api = (path) => fetch(path, { credentials: "same-origin" }).then((r) => {
    if (!r.ok) throw new Error(r.status + " " + r.statusText);
    return r.json();
  });

  function pct(us) { return ((us - view[0]) / (view[1] - view[0])) * 100; }
  function bar(cls, s, e, title) {
    const left = Math.max(0, pct(s)), right = Math.min(100, pct(e));
    if (right <= 0 || left >= 100) return;
    const div = document.createElement("div");
    div.className = cls;
    div.style.left = left + "%";
    div.style.width = Math.max(0.15, right - left) + "%";
    if (title) div.title = title;
    line.appendChild(div);
    return div;
  }

  function draw() {
    line.querySelectorAll(".rec, .gap, .ev").forEach((n) => n.remove());
    axis.textContent = "";
    if (!data) return;
    data.recorded.forEach(([s, e]) => bar("rec", s, e, "recorded " + fmt(s) + " - " + fmt(e)));
    data.gaps.forEach(([s, e]) => bar("gap", s, e, "gap " + fmt(s) + " - " + fmt(e)));
    data.events.forEach((ev) => {
      const div = bar("ev", ev.start_us, Math.max(ev.end_us, ev.start_us + (view[1] - view[0]) / 400),
        ev.label + " " + fmt(ev.start_us));
      if (div) div.dataset.event = ev.id;
    });
    const step = (view[1] - view[0]) / 6;
    for (let i = 0; i <= 6; i++) {
      const span = document.createElement("span");
      span.style.left = (i * 100 / 6) + "%";
      span.textContent = fmt(view[0] + i * step).slice(0, 5);
      axis.appendChild(span);
    }
    moveCursor();
  }

  function moveCursor() {
    if (playFrom === null) { cursor.style.display = "none"; return; }
    const at = playFrom + (player.currentTime || 0) * 1e6;
    cursor.style.display = "block";
    cursor.style.left = Math.min(100, Math.max(0, pct(at))) + "%";
  }

  function load() {
    return api(`/api/cameras/${cam}/timeline?start_us=${dayStart}&end_us=${dayEnd}`).then((json) => {
      data = json;
      draw();
      listEvents();
    }).catch((err) => { playing.textContent = "timeline: " + err.message; });
  }
  // ?at=<UTC µs> (links from plate sightings and elsewhere): play from that moment once the timeline is in.
  const startAt = Number(new URLSearchParams(window.location.search).get("at"));

  function play(fromUs, label) {
    const end = Math.min(fromUs + CLIP, data ? data.now_us : fromUs + CLIP);
    playFrom = fromUs;
    player.src = `/api/cameras/${cam}/play.mp4?start=${Math.round(fromUs)}&end=${Math.round(end)}`;
    player.dataset.from = String(Math.round(fromUs));
    player.play().catch(() => {});
    playing.textContent = (label ? label + " · " : "") + "playing from " + fmt(fromUs) + " UTC";
    moveCursor();
  }

  line.addEventListener("click", (e) => {
    const rect = line.getBoundingClientRect();
    const at = view[0] + ((e.clientX - rect.left) / rect.width) * (view[1] - view[0]);
    const evId = e.target.dataset ? e.target.dataset.event : undefined;
    const ev = evId && data ? data.events.find((x) => String(x.id) === evId) : null;
    if (ev) play(ev.footage.start_us, ev.label); else play(at);
  });

  document.querySelectorAll("[data-zoom]").forEach((b) => b.addEventListener("click", () => {
    const hours = Number(b.dataset.zoom);
    const centre = playFrom !== null ? playFrom : (view[0] + view[1]) / 2;
    const half = hours * HOUR / 2;
    let s = Math.max(dayStart, centre - half), e = Math.min(dayEnd, s + 2 * half);
    s = Math.max(dayStart, e - 2 * half);
    view = [s, e];
    draw();
  }));

  function stepEvent(dir) {
    if (!data || !data.events.length) return;
    const now = playFrom !== null ? playFrom + (player.currentTime || 0) * 1e6 : (dir > 0 ? dayStart - 1 : dayEnd);
    const sorted = data.events.slice().sort((a, b) => a.footage.start_us - b.footage.start_us);
    const next = dir > 0 ? sorted.find((ev) => ev.footage.start_us > now + 1e6)
      : sorted.reverse().find((ev) => ev.footage.start_us < now - 2e6);
    if (next) play(next.footage.start_us, next.label);
  }
  document.getElementById("prev-event").addEventListener("click", () => stepEvent(-1));
  document.getElementById("next-event").addEventListener("click", () => stepEvent(1));

  function listEvents() {
    const body = document.querySelector("#events tbody");
    body.textContent = "";
    data.events.slice().reverse().forEach((ev) => {
      const tr = document.createElement("tr");
      tr.dataset.event = ev.id;
      const img = ev.snapshot ? `<img class="snap" alt="" loading="lazy" src="${ev.snapshot}">` : "";
      tr.innerHTML = `<td>${img}</td><td>${fmt(ev.start_us)} - ${fmt(ev.end_us)}</td>` +
        `<td class="what"></td><td>${ev.score.toFixed(2)}</td><td class="zones"></td>`;
      tr.querySelector(".what").textContent = ev.kind === "object" ? ev.label : `${ev.kind} (${ev.label}, ${ev.severity})`;
      tr.querySelector(".zones").textContent = ev.zones.join(", ");
      tr.addEventListener("click", () => play(ev.footage.start_us, ev.label));
      body.appendChild(tr);
    });
  }

  player.addEventListener("timeupdate", moveCursor);

  // Live: the fragmented-MP4 stream in a <video>; if it fails, a JPEG refreshed every 2 s.
  const liveVideo = document.getElementById("live-video"), liveAge = document.getElementById("live-age");
  let liveAt = Date.now(), snapshots = null;
  function fallBack() {
    if (snapshots) return;
    liveVideo.hidden = true;
    live.hidden = false;
    live.addEventListener("load", () => { liveAt = Date.now(); });
    const refresh = () => {
      live.src = `/api/cameras/${cam}/thumbnail.jpg?max_age=2&t=${Date.now()}`;
      liveAge.textContent = "(snapshots) " + Math.round((Date.now() - liveAt) / 1000) + " s ago";
    };
    refresh();
    snapshots = setInterval(refresh, 2000);
  }
  liveVideo.addEventListener("error", fallBack);
  liveVideo.addEventListener("stalled", () => setTimeout(() => { if (liveVideo.readyState < 2) fallBack(); }, 8000));
  setTimeout(() => { if (liveVideo.readyState < 2) fallBack(); }, 12000);
  setInterval(load, 30000);
  load().then(() => { if (startAt >= dayStart && startAt < dayEnd) play(startAt, "linked moment"); });
})();
