"use strict";
// A phone in the browser, signing exactly as the app does (docs/contract §1, §4, §6):
// - an ECDSA P-256 key made by WebCrypto, the private half non-extractable, kept in IndexedDB;
// - compact JWS with the raw r||s signature WebCrypto produces (what ES256 wants; never DER);
// - a fresh device token (new jti, htm, htu) for every request;
// - requests arrive over /ws/v1/device when the server accepts the token as a WebSocket subprotocol
//   (browsers cannot set an Authorization header on a WebSocket), else by polling GET /api/v1/device/approvals.
// The API has no session authentication, so these calls send no cookies and need no CSRF token.
(() => {
  const DB_NAME = "nemid-demo-phone";
  const STORE = "device";
  const KEY = "current";
  const POLL_INTERVAL = 1000;
  const SLOW_POLL_INTERVAL = 10000;
  const encoder = new TextEncoder();

  // --- IndexedDB -------------------------------------------------------------------------------
  function openDb() {
    return new Promise((resolve, reject) => {
      const request = indexedDB.open(DB_NAME, 1);
      request.onupgradeneeded = () => request.result.createObjectStore(STORE);
      request.onsuccess = () => resolve(request.result);
      request.onerror = () => reject(request.error);
    });
  }
  async function dbRequest(mode, operation) {
    const db = await openDb();
    return new Promise((resolve, reject) => {
      const request = operation(db.transaction(STORE, mode).objectStore(STORE));
      request.onsuccess = () => resolve(request.result);
      request.onerror = () => reject(request.error);
    });
  }
  const loadDevice = () => dbRequest("readonly", (store) => store.get(KEY));
  const saveDevice = (device) => dbRequest("readwrite", (store) => store.put(device, KEY));
  const forgetDevice = () => dbRequest("readwrite", (store) => store.delete(KEY));

  // --- JWS -------------------------------------------------------------------------------------
  function b64url(bytes) {
    let binary = "";
    for (const byte of new Uint8Array(bytes)) binary += String.fromCharCode(byte);
    return btoa(binary).replace(/\+/g, "-").replace(/\//g, "_").replace(/=+$/, "");
  }
  const b64urlJson = (value) => b64url(encoder.encode(JSON.stringify(value)));
  const now = () => Math.floor(Date.now() / 1000);
  const randomId = () => b64url(crypto.getRandomValues(new Uint8Array(24)));

  // The server accepts only low-S ECDSA signatures (s <= n/2); WebCrypto returns either form.
  const P256_ORDER = BigInt("0xFFFFFFFF00000000FFFFFFFFFFFFFFFFBCE6FAADA7179E84F3B9CAC2FC632551");
  function lowS(signature) {
    const bytes = new Uint8Array(signature);
    let s = 0n;
    for (const byte of bytes.slice(32)) s = (s << 8n) | BigInt(byte);
    if (s <= P256_ORDER >> 1n) return bytes;
    s = P256_ORDER - s;
    for (let index = 63; index >= 32; index -= 1) {
      bytes[index] = Number(s & 0xffn);
      s >>= 8n;
    }
    return bytes;
  }

  async function signJws(header, payload, privateKey) {
    const signingInput = `${b64urlJson(header)}.${b64urlJson(payload)}`;
    // WebCrypto's ECDSA signature is IEEE P1363 raw r||s (64 bytes): exactly the JWS ES256 form.
    const signature = await crypto.subtle.sign({ name: "ECDSA", hash: "SHA-256" }, privateKey, encoder.encode(signingInput));
    return `${signingInput}.${b64url(lowS(signature))}`;
  }

  function deviceToken(device, method, path) {
    const iat = now();
    return signJws(
      { alg: "ES256", typ: "device+jwt", kid: device.deviceId },
      { iat, exp: iat + 60, jti: randomId(), htm: method, htu: path },
      device.keys.privateKey,
    );
  }

  let clockOffset = 0; // server time minus local time, from the Date header of API answers

  async function api(device, method, path, body) {
    const headers = { Accept: "application/json" };
    if (device) headers.Authorization = `Device ${await deviceToken(device, method, path)}`;
    if (body !== undefined) headers["Content-Type"] = "application/json";
    const response = await fetch(path, {
      method,
      headers,
      body: body === undefined ? undefined : JSON.stringify(body),
      credentials: "omit",
    });
    const serverDate = Date.parse(response.headers.get("Date") || "");
    if (!Number.isNaN(serverDate)) {
      const offset = serverDate - Date.now();
      clockOffset = Math.abs(offset) > 2000 ? offset : 0; // the header has whole seconds only
    }
    const data = response.status === 204 ? null : await response.json().catch(() => null);
    return { ok: response.ok, status: response.status, data, retryAfter: response.headers.get("Retry-After") };
  }

  // --- history, kept across reloads ------------------------------------------------------------
  const HISTORY_KEY = "nemid-demo-phone-history";
  const HISTORY_MAX = 50;

  function loadHistory() {
    try {
      const entries = JSON.parse(localStorage.getItem(HISTORY_KEY) || "[]");
      return Array.isArray(entries) ? entries : [];
    } catch (error) {
      return [];
    }
  }

  function saveHistory(entries) {
    try {
      localStorage.setItem(HISTORY_KEY, JSON.stringify(entries.slice(0, HISTORY_MAX)));
    } catch (error) {
      console.warn("the history could not be kept", error);
    }
  }

  // --- UI --------------------------------------------------------------------------------------
  const root = document.getElementById("phone");
  const $ = (id) => document.getElementById(id);
  const shown = new Map(); // approval id -> {element, view}
  const closed = new Set(); // approval ids already written to the history

  function screen(name) {
    $("register").hidden = name !== "register";
    $("home").hidden = name !== "home";
    root.dataset.state = name;
  }

  function setConnection(mode) {
    $("connection").textContent = mode;
    $("connection").dataset.mode = mode;
  }

  function announce(text) {
    // Cleared first so that the same words twice are announced twice.
    const announcer = $("announcer");
    announcer.textContent = "";
    setTimeout(() => { announcer.textContent = text; }, 50);
  }

  function timeOfDay(iso) {
    return new Date(iso).toLocaleTimeString([], { hour: "2-digit", minute: "2-digit" });
  }

  function renderLogEntry(entry, atTop) {
    const item = document.createElement("li");
    item.className = entry.kind || "";
    const time = document.createElement("time");
    time.dateTime = entry.at;
    time.textContent = timeOfDay(entry.at);
    item.append(time, ` ${entry.text}`);
    if (atTop) $("log").prepend(item);
    else $("log").append(item);
    $("log-empty").hidden = true;
  }

  function log(text, kind, approvalId) {
    if (approvalId) {
      if (closed.has(approvalId)) return;
      closed.add(approvalId);
    }
    const entry = { at: new Date().toISOString(), text, kind: kind || "", id: approvalId || null };
    saveHistory([entry, ...loadHistory()]);
    renderLogEntry(entry, true);
  }

  function showHistory() {
    $("log").replaceChildren();
    const entries = loadHistory();
    for (const entry of entries) {
      if (entry.id) closed.add(entry.id);
      renderLogEntry(entry, false);
    }
    $("log-empty").hidden = entries.length > 0;
  }

  function problemText(data, fallback) {
    if (data && data.errors) return Object.values(data.errors).flat().join(" ");
    return (data && data.detail) || fallback;
  }

  function headline(view) {
    return view.type === "payment" ? "Approve payment?" : `Log in to ${view.rp_name}?`;
  }

  function describe(view) {
    return view.payment ? `${view.payment.amount} ${view.payment.currency} to ${view.payment.payee}` : `log in to ${view.rp_name}`;
  }

  function capitalised(text) {
    return text.charAt(0).toUpperCase() + text.slice(1);
  }

  const CLOSED_ELSEWHERE = {
    approved: "Approved on another device",
    denied: "Denied on another device",
    cancelled: "Cancelled by the site",
    expired: "Expired",
    failed: "Failed",
  };

  function remove(id) {
    const entry = shown.get(id);
    if (!entry) return;
    entry.element.remove();
    shown.delete(id);
    $("empty").hidden = shown.size > 0;
  }

  function close(id, status) {
    const entry = shown.get(id);
    if (!entry || entry.element.dataset.busy) return;
    const what = CLOSED_ELSEWHERE[status] || "No longer pending";
    log(`${what}: ${describe(entry.view)}`, status === "expired" ? "expired" : status, id);
    announce(`${what}: ${describe(entry.view)}`);
    remove(id);
  }

  function remainingSeconds(view) {
    return Math.ceil((Date.parse(view.expires_at) - (Date.now() + clockOffset)) / 1000);
  }

  function tickCountdowns() {
    for (const [id, { element, view }] of shown) {
      const left = remainingSeconds(view);
      if (left <= 0) {
        if (!element.dataset.busy) close(id, "expired");
        continue;
      }
      const minutes = Math.floor(left / 60);
      const seconds = String(left % 60).padStart(2, "0");
      const countdown = element.querySelector(".countdown");
      countdown.textContent = `Expires in ${minutes}:${seconds}`;
      countdown.classList.toggle("soon", left <= 30);
    }
  }

  function render(device, views) {
    const ids = new Set(views.map((view) => view.id));
    for (const [id, { view }] of shown) {
      // Gone from the pending list: expired if its time is up, else answered, cancelled or failed.
      if (!ids.has(id)) close(id, remainingSeconds(view) <= 0 ? "expired" : null);
    }
    for (const view of views) {
      if (!shown.has(view.id) && !closed.has(view.id)) add(device, view);
    }
    $("empty").hidden = shown.size > 0;
  }

  function add(device, view) {
    const element = buildRequest(device, view);
    shown.set(view.id, { element, view });
    $("empty").hidden = true;
    tickCountdowns();
    announce(`New request from ${view.rp_name}: ${headline(view)} ${view.payment ? `${view.payment.amount} ${view.payment.currency}` : ""}`);
    // Move focus to the request unless the person is typing somewhere else.
    const active = document.activeElement;
    if (!active || active === document.body || !document.contains(active)) element.focus();
  }

  function setText(element, selector, text) {
    const node = element.querySelector(selector);
    node.textContent = text || "";
    node.hidden = !text;
  }

  function buildRequest(device, view) {
    const element = $("request-template").content.firstElementChild.cloneNode(true);
    element.dataset.id = view.id;
    element.dataset.type = view.type;
    const title = headline(view);
    element.querySelector(".headline").textContent = title;
    element.setAttribute("aria-label", title);
    if (view.payment) {
      setText(element, ".amount", `${view.payment.amount} ${view.payment.currency}`);
      setText(element, ".payee", `to ${view.payment.payee}`);
      // Who asks, once: the payee is the asker unless another site asks on its behalf.
      if (view.payment.payee !== view.rp_name) setText(element, ".asked-by", `asked by ${view.rp_name}`);
    }
    // The binding message is part of what is signed, so it is always shown, unless it only repeats the headline.
    if (`${view.binding_message}?` !== title) setText(element, ".message", view.binding_message);
    const codeField = element.querySelector(".code-field");
    codeField.hidden = !view.verification_code_required;
    element.querySelector(".code").required = view.verification_code_required;
    element.querySelector(".decision").addEventListener("submit", (event) => {
      event.preventDefault();
      decide(device, view, element, "approve");
    });
    element.querySelector(".deny").addEventListener("click", () => decide(device, view, element, "deny"));
    element.querySelector(".report").addEventListener("click", () => decide(device, view, element, "deny", true));
    $("requests").prepend(element);
    return element;
  }

  async function decide(device, view, element, decision, reportFraud = false) {
    const error = element.querySelector(".error");
    error.hidden = true;
    let code = null;
    if (decision === "approve" && view.verification_code_required) {
      code = element.querySelector(".code").value.trim();
      if (!/^[0-9]{2}$/.test(code)) {
        error.textContent = "Type the 2-digit number shown on the web site.";
        error.hidden = false;
        element.querySelector(".code").focus();
        return;
      }
    }
    // What was shown is what is signed (dynamic linking): the fields of the device view, verbatim.
    const payload = {
      approval_id: view.id,
      nonce: view.nonce,
      decision,
      type: view.type,
      rp_name: view.rp_name,
      binding_message: view.binding_message,
      payment: view.payment,
      verification_code: code,
      iat: now(),
    };
    if (reportFraud) payload.report_fraud = true;
    element.dataset.busy = "1";
    for (const button of element.querySelectorAll("button")) button.disabled = true;
    const signed = await signJws({ alg: "ES256", typ: "approval-decision+jwt", kid: device.deviceId }, payload, device.keys.privateKey);
    const path = `/api/v1/device/approvals/${encodeURIComponent(view.id)}/decision`;
    let answer;
    try {
      answer = await api(device, "POST", path, { signed_decision: signed });
    } catch (networkError) {
      answer = { ok: false, data: { detail: "The server could not be reached." } };
    }
    let text;
    let kind;
    if (answer.ok) {
      kind = answer.data.status;
      text = `${answer.data.status === "approved" ? "Approved" : "Denied"}: ${describe(view)}`;
      if (reportFraud) text = `Denied and reported as fraud: ${describe(view)}`;
    } else if (answer.data && answer.data.code === "verification_code_mismatch") {
      kind = "failed";
      text = `Wrong number: ${describe(view)} was refused`;
    } else if (answer.data && answer.data.code === "approval_expired") {
      kind = "expired";
      text = `Expired: ${describe(view)}`;
    } else {
      kind = "failed";
      text = `${capitalised(describe(view))}: ${problemText(answer.data, "the answer was not accepted")}`;
    }
    log(text, kind, view.id);
    announce(text);
    remove(view.id);
    $("log").querySelector("li")?.setAttribute("tabindex", "-1");
    if (!shown.size) $("log").querySelector("li")?.focus();
  }

  // --- receiving requests ----------------------------------------------------------------------
  let stopPolling = null;

  function startPolling(device, interval) {
    if (stopPolling) stopPolling();
    let stopped = false;
    let timer = null;
    const tick = async () => {
      try {
        const answer = await api(device, "GET", "/api/v1/device/approvals");
        if (answer.status === 401) {
          log("This phone is no longer active.", "failed");
          await forgetDevice();
          localStorage.removeItem(HISTORY_KEY);
          return showRegister();
        }
        if (answer.ok) render(device, answer.data.approvals);
      } catch (error) {
        console.warn("polling failed", error);
      }
      if (!stopped) timer = setTimeout(tick, interval);
    };
    tick();
    stopPolling = () => {
      stopped = true;
      clearTimeout(timer);
    };
  }

  async function connect(device) {
    setConnection("polling");
    startPolling(device, POLL_INTERVAL);
    let token;
    try {
      token = await deviceToken(device, "GET", "/ws/v1/device");
    } catch (error) {
      return;
    }
    const scheme = location.protocol === "https:" ? "wss:" : "ws:";
    let socket;
    try {
      socket = new WebSocket(`${scheme}//${location.host}/ws/v1/device`, ["nemid-device", token]);
    } catch (error) {
      return; // stay on polling
    }
    let pinger = null;
    socket.onopen = () => {
      setConnection("live");
      startPolling(device, SLOW_POLL_INTERVAL); // a safety net only
      pinger = setInterval(() => socket.send(JSON.stringify({ type: "ping" })), 25000);
    };
    socket.onmessage = (event) => {
      let message;
      try {
        message = JSON.parse(event.data);
      } catch (error) {
        return;
      }
      if (message.type === "approval.created" && !shown.has(message.approval.id) && !closed.has(message.approval.id)) {
        add(device, message.approval);
      } else if (message.type === "approval.closed") {
        close(message.id, message.status);
      }
    };
    socket.onclose = () => {
      clearInterval(pinger);
      setConnection("polling");
      startPolling(device, POLL_INTERVAL);
    };
  }

  let current = null;
  let countdownTimer = null;

  function showHome(device) {
    current = device;
    $("user-id").textContent = device.userId;
    $("device-id").textContent = device.deviceId;
    $("device-name-shown").textContent = device.name || "";
    showHistory();
    screen("home");
    connect(device);
    if (!countdownTimer) countdownTimer = setInterval(tickCountdowns, 1000);
  }

  function showRegister() {
    if (stopPolling) stopPolling();
    setConnection("offline");
    screen("register");
  }

  // A new key pair; non-extractable: the private key can sign but can never be read out, not even by this page.
  async function newKeys() {
    const keys = await crypto.subtle.generateKey({ name: "ECDSA", namedCurve: "P-256" }, false, ["sign", "verify"]);
    const jwk = await crypto.subtle.exportKey("jwk", keys.publicKey);
    return { keys, publicKey: { kty: jwk.kty, crv: jwk.crv, x: jwk.x, y: jwk.y } };
  }

  // Binds the new key (POST /api/v1/devices); `how` is {activation_code} or {challenge}, and `proofPayload`
  // what the proof of possession signs. Returns the API's answer; on success the phone is home.
  async function bindKey(name, how, proofPayload) {
    const { keys, publicKey } = await newKeys();
    const proof = await signJws({ alg: "ES256", typ: "device-registration+jwt" }, { ...proofPayload, iat: now() }, keys.privateKey);
    const answer = await api(null, "POST", "/api/v1/devices", { ...how, public_key: publicKey, name, platform: "web", proof });
    if (answer.ok) {
      const device = { deviceId: answer.data.device_id, userId: answer.data.user_id, name, keys };
      await saveDevice(device);
      showHome(device);
    }
    return answer;
  }

  async function register(event) {
    event.preventDefault();
    const error = $("register-error");
    error.hidden = true;
    const button = $("register-button");
    button.disabled = true;
    try {
      const activationCode = $("activation-code").value.trim();
      const name = $("device-name").value.trim() || "Browser phone";
      const answer = await bindKey(name, { activation_code: activationCode }, { activation_code: activationCode });
      if (!answer.ok) {
        error.textContent = problemText(answer.data, "The phone could not be activated.");
        error.hidden = false;
      }
    } catch (failure) {
      error.textContent = `The phone could not be activated: ${failure}`;
      error.hidden = false;
    } finally {
      button.disabled = false;
    }
  }

  // --- activating with user ID, password and a key card or key fob code (no letter) -----------
  // POST /api/v1/devices/challenges says which key number of which card to type and whether a key
  // fob code will do; POST /api/v1/devices answers it once (docs/contract §9).
  let challenge = null;

  function chooseActivationWay() {
    const way = document.querySelector("input[name=activation_way]:checked").value;
    $("register-form").hidden = way !== "code";
    $("challenge-form").hidden = way !== "challenge";
  }

  function challengeError(text, focusId) {
    $("challenge-error").textContent = text;
    $("challenge-error").hidden = false;
    if (focusId) $(focusId).focus();
  }

  function challengeStep(step) {
    $("challenge-who").hidden = step !== "who";
    $("challenge-answer").hidden = step !== "answer";
    $("challenge-code").required = step === "answer";
    root.dataset.challenge = step;
  }

  function resetChallenge() {
    challenge = null;
    $("challenge-password").value = "";
    $("challenge-code").value = "";
    challengeStep("who");
  }

  function restartChallenge(text) {
    resetChallenge();
    if (text) challengeError(text, "challenge-password");
    else $("challenge-user-id").focus();
  }

  function means() {
    if (!challenge.key_card) return "key_fob";
    if (!challenge.key_fob) return "key_card";
    return document.querySelector("input[name=means]:checked").value;
  }

  function showMeans() {
    const prompt = $("challenge-prompt");
    prompt.replaceChildren();
    if (means() === "key_card") {
      const key = document.createElement("strong");
      key.className = "key-number";
      key.id = "challenge-key";
      key.textContent = challenge.key_card.key;
      prompt.append("Key number ", key, ` on your key card ending in ${challenge.key_card.serial_hint}.`);
      $("challenge-code-label").textContent = `Code for key number ${challenge.key_card.key}`;
      $("challenge-code-hint").textContent = "The 6 digits printed next to that key number.";
    } else {
      prompt.textContent = "Press the button of your key fob.";
      $("challenge-code-label").textContent = "Code from the key fob";
      $("challenge-code-hint").textContent = "The 6 digits it shows; a new code appears every 30 seconds.";
    }
  }

  const CHALLENGE_PROBLEMS = {
    invalid_credentials: "The user ID, the password or the code is wrong, or the code was used before. Type your password again to try once more.",
    device_limit_reached: "This user ID already has as many devices as it may have: deactivate one from another device first.",
  };

  function problemOf(answer, fallback) {
    const code = answer.data && answer.data.code;
    if (code === "too_many_attempts") {
      const wait = Number(answer.retryAfter);
      const when = wait > 0 ? `in ${wait < 120 ? `${wait} seconds` : `${Math.ceil(wait / 60)} minutes`}` : "later";
      return `Too many attempts: try again ${when}.`;
    }
    return CHALLENGE_PROBLEMS[code] || problemText(answer.data, fallback);
  }

  async function askChallenge() {
    const userId = $("challenge-user-id").value.trim();
    if (!/^[0-9]{10}$/.test(userId)) return challengeError("A user ID is 10 digits.", "challenge-user-id");
    const answer = await api(null, "POST", "/api/v1/devices/challenges", { user_id: userId });
    if (!answer.ok) return challengeError(problemOf(answer, "The server could not make a challenge."), "challenge-user-id");
    if (!answer.data.key_card && !answer.data.key_fob) {
      return challengeError("This user ID has no key card or key fob: activate the phone with an activation code.", "challenge-user-id");
    }
    challenge = { ...answer.data, user_id: userId };
    $("challenge-means").hidden = !(challenge.key_card && challenge.key_fob);
    showMeans();
    challengeStep("answer");
    announce(
      means() === "key_card"
        ? `Type the code for key number ${challenge.key_card.key.split("").join(" ")} of your key card ending in ${challenge.key_card.serial_hint}.`
        : "Type the code your key fob shows.",
    );
    $("challenge-code").focus();
  }

  async function answerChallenge() {
    const code = $("challenge-code").value.replace(/[\s-]/g, "");
    if (!/^[0-9]{6}$/.test(code)) return challengeError("Type the 6 digits of the code.", "challenge-code");
    const name = $("challenge-device-name").value.trim() || "Browser phone";
    const codeField = means() === "key_card" ? "key_card_code" : "key_fob_code";
    const answered = {
      challenge_id: challenge.challenge_id,
      user_id: challenge.user_id,
      password: $("challenge-password").value,
      [codeField]: code,
    };
    const answer = await bindKey(name, { challenge: answered }, { challenge_id: challenge.challenge_id });
    if (answer.ok) {
      resetChallenge(); // the phone is home now
      return;
    }
    // A challenge is answered once, whatever the answer: the next try asks for a new one.
    restartChallenge(problemOf(answer, "The phone could not be activated."));
  }

  async function challengeSubmit(event) {
    event.preventDefault();
    $("challenge-error").hidden = true;
    const buttons = [$("challenge-button"), $("challenge-activate")];
    for (const button of buttons) button.disabled = true;
    try {
      if (challenge) await answerChallenge();
      else await askChallenge();
    } catch (failure) {
      restartChallenge(`The phone could not be activated: ${failure}`);
    } finally {
      for (const button of buttons) button.disabled = false;
    }
  }

  async function forget(device) {
    try {
      await api(device, "DELETE", "/api/v1/device");
    } catch (error) {
      console.warn("could not revoke the device", error);
    }
    await forgetDevice();
    localStorage.removeItem(HISTORY_KEY);
    location.reload();
  }

  function confirmForget() {
    const dialog = $("forget-dialog");
    dialog.returnValue = "";
    dialog.showModal();
  }

  document.addEventListener("DOMContentLoaded", async () => {
    $("register-form").addEventListener("submit", register);
    for (const radio of document.querySelectorAll("input[name=activation_way]")) radio.addEventListener("change", chooseActivationWay);
    $("challenge-form").addEventListener("submit", challengeSubmit);
    $("challenge-restart").addEventListener("click", () => restartChallenge());
    for (const radio of document.querySelectorAll("input[name=means]")) {
      radio.addEventListener("change", () => {
        showMeans();
        $("challenge-code").focus();
      });
    }
    chooseActivationWay();
    $("forget").addEventListener("click", confirmForget);
    $("forget-dialog").addEventListener("close", () => {
      if ($("forget-dialog").returnValue === "confirm" && current) forget(current);
    });
    if (!window.isSecureContext || !crypto.subtle) {
      showRegister();
      $("register-error").textContent = "WebCrypto needs a secure context: open this page over https or on localhost.";
      $("register-error").hidden = false;
      return;
    }
    const device = await loadDevice().catch(() => null);
    if (device) {
      showHome(device);
    } else {
      showRegister();
    }
  });
})();
