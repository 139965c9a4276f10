"use strict";
// Shared by the demo pages: a CSRF-protected form POST and a poller. No framework, no build step.
window.demo = (() => {
  async function postForm(url, form) {
    const body = new FormData(form);
    const token = form.querySelector("input[name=csrfmiddlewaretoken]").value;
    const response = await fetch(url, {
      method: "POST",
      body,
      headers: { "X-CSRFToken": token, Accept: "application/json" },
      credentials: "same-origin",
    });
    const data = await response.json().catch(() => ({}));
    return { ok: response.ok, status: response.status, data };
  }

  async function getJson(url) {
    const response = await fetch(url, { headers: { Accept: "application/json" }, credentials: "same-origin" });
    const data = await response.json().catch(() => ({}));
    return { ok: response.ok, status: response.status, data };
  }

  // Calls `check` every `interval` ms until it returns true (a final answer); survives network errors.
  function poll(check, interval = 1000) {
    let stopped = false;
    const tick = async () => {
      if (stopped) return;
      let done = false;
      try {
        done = await check();
      } catch (error) {
        console.warn("poll failed, retrying", error);
      }
      if (!done && !stopped) setTimeout(tick, interval);
    };
    tick();
    return () => { stopped = true; };
  }

  function show(root, panelId) {
    for (const panel of root.querySelectorAll(".panel")) panel.hidden = panel.id !== panelId;
    root.dataset.state = panelId;
  }

  function problemText(data, fallback) {
    if (data && data.errors) {
      return Object.entries(data.errors).map(([field, messages]) => `${field}: ${messages.join(" ")}`).join(" ");
    }
    return (data && data.detail) || fallback;
  }

  return { postForm, getJson, poll, show, problemText };
})();
