"use strict";
// A relying party's login page: user ID, then either the app (a 2-digit number to type in it) or a
// code from a key card (the key number the server asks for) or a key fob; then logged in or refused.
document.addEventListener("DOMContentLoaded", () => {
  const root = document.getElementById("login");
  const form = document.getElementById("login-form");
  const error = document.getElementById("login-error");
  const $ = (id) => document.getElementById(id);
  const REFUSALS = {
    denied: "You denied the login in the app.",
    failed: "The number typed in the app did not match, or the answer failed a security check.",
    expired: "The login request expired before an answer came.",
    cancelled: "The login request was cancelled.",
  };

  function welcome(data) {
    $("welcome-name").textContent = `${data.name} (${data.user_id})`;
    demo.show(root, "welcome");
  }

  function startError(answer) {
    error.textContent = demo.problemText(answer.data, "The login could not be started.");
    error.hidden = false;
    $("user-id").focus();
  }

  async function post(url, formElement) {
    try {
      return await demo.postForm(url, formElement);
    } catch (networkError) {
      return { ok: false, data: { detail: "The site could not be reached." } };
    }
  }

  async function withTheApp() {
    const answer = await post(root.dataset.startUrl, form);
    if (!answer.ok) return startError(answer);
    const code = answer.data.verification_code || "";
    $("verification-code").textContent = code;
    demo.show(root, "code", `Open the NemID app and type the number ${code.split("").join(" ")}.`);
    const statusUrl = root.dataset.statusUrl.replace("APPROVAL_ID", encodeURIComponent(answer.data.id));
    demo.poll(async () => {
      const { ok, data } = await demo.getJson(statusUrl);
      if (!ok || data.status === "pending") return false;
      if (data.status === "approved") {
        welcome(data);
      } else {
        const reason = REFUSALS[data.status] || "The login did not succeed.";
        $("refusal-reason").textContent = reason;
        demo.show(root, "refusal", `Not logged in. ${reason}`);
      }
      return true;
    });
  }

  // --- a key card or key fob code -------------------------------------------------------------
  let codeLogin = null;

  function otpProblem(answer) {
    const code = answer.data && answer.data.code;
    if (code === "invalid_credentials") {
      return codeLogin.method === "key_card"
        ? "The code is wrong or already used. Type the code for the same key number again."
        : "The code is wrong or already used. Wait for the next code on your key fob and type it.";
    }
    if (code === "too_many_attempts") {
      const detail = (answer.data && answer.data.detail) || "Too many wrong codes.";
      return `${detail} Wait a while before you try again.`;
    }
    if (code === "not_found") return "This login has ended. Choose “Log in another way” to start again.";
    return demo.problemText(answer.data, "The code could not be checked.");
  }

  async function withACode(method) {
    const answer = await post(root.dataset.codeStartUrl, form);
    if (!answer.ok) return startError(answer);
    codeLogin = answer.data;
    const prompt = $("otp-prompt");
    prompt.replaceChildren();
    if (method === "key_card") {
      $("otp-heading").textContent = "Type the code from your key card";
      const key = document.createElement("strong");
      key.className = "key-number";
      key.id = "otp-key";
      key.textContent = codeLogin.key_card.key;
      prompt.append("Key number ", key, ` on your key card ending in ${codeLogin.key_card.serial_hint}.`);
      $("otp-hint").textContent = "The 6 digits printed next to that key number.";
    } else {
      $("otp-heading").textContent = "Type the code from your key fob";
      prompt.textContent = "Press the button of your key fob and type the 6 digits it shows.";
      $("otp-hint").textContent = "6 digits; a new code appears every 30 seconds.";
    }
    const spoken = method === "key_card"
      ? `Type the code for key number ${codeLogin.key_card.key.split("").join(" ")} of your key card.`
      : "Type the code your key fob shows.";
    demo.show(root, "otp", spoken);
    $("otp-code").focus();
  }

  $("otp-form").addEventListener("submit", async (event) => {
    event.preventDefault();
    const otpError = $("otp-error");
    otpError.hidden = true;
    $("otp-button").disabled = true;
    const url = root.dataset.codeFinishUrl.replace("LOGIN_ID", encodeURIComponent(codeLogin.id));
    const answer = await post(url, $("otp-form"));
    $("otp-button").disabled = false;
    if (answer.ok) return welcome(answer.data);
    otpError.textContent = otpProblem(answer);
    otpError.hidden = false;
    $("otp-code").value = "";
    $("otp-code").focus();
  });

  form.addEventListener("submit", async (event) => {
    event.preventDefault();
    error.hidden = true;
    const method = (form.querySelector("input[name=method]:checked") || {}).value || "app";
    if (method === "app") await withTheApp();
    else await withACode(method);
  });
});
