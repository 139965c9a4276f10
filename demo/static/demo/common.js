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

  // Shows one panel, announces it (the root's aria-live #announcer) and moves focus to its heading,
  // so that a screen reader or keyboard user hears and lands where the page changed.
  function show(root, panelId, announcement) {
    let target = null;
    for (const panel of root.querySelectorAll(".panel")) {
      panel.hidden = panel.id !== panelId;
      if (!panel.hidden) target = panel;
    }
    root.dataset.state = panelId;
    const heading = target && target.querySelector("h2, h3");
    const announcer = root.querySelector("#announcer");
    if (announcer) {
      announcer.textContent = "";
      const text = announcement || (heading ? heading.textContent.trim() : "");
      setTimeout(() => { announcer.textContent = text; }, 50);
    }
    if (heading) {
      if (!heading.hasAttribute("tabindex")) heading.setAttribute("tabindex", "-1");
      heading.focus();
    }
  }

  function problemText(data, fallback) {
    if (data && data.errors) {
      return Object.entries(data.errors).map(([field, messages]) => `${field}: ${messages.join(" ")}`).join(" ");
    }
    return (data && data.detail) || fallback;
  }

  return { postForm, getJson, poll, show, problemText };
})();
