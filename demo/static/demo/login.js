"use strict";
// A relying party's login page: user ID -> 2-digit number to type in the app -> logged in or refused.
document.addEventListener("DOMContentLoaded", () => {
  const root = document.getElementById("login");
  const form = document.getElementById("login-form");
  const error = document.getElementById("login-error");
  const REFUSALS = {
    denied: "You denied the login in the app.",
    failed: "The number typed in the app did not match, or the answer failed a security check.",
    expired: "The login request expired before an answer came.",
    cancelled: "The login request was cancelled.",
  };

  form.addEventListener("submit", async (event) => {
    event.preventDefault();
    error.hidden = true;
    let answer;
    try {
      answer = await demo.postForm(root.dataset.startUrl, form);
    } catch (networkError) {
      answer = { ok: false, data: { detail: "The site could not be reached." } };
    }
    if (!answer.ok) {
      error.textContent = demo.problemText(answer.data, "The login could not be started.");
      error.hidden = false;
      document.getElementById("user-id").focus();
      return;
    }
    const code = answer.data.verification_code || "";
    document.getElementById("verification-code").textContent = code;
    demo.show(root, "code", `Open the NemID app and type the number ${code.split("").join(" ")}.`);
    const statusUrl = root.dataset.statusUrl.replace("APPROVAL_ID", encodeURIComponent(answer.data.id));
    demo.poll(async () => {
      const { ok, data } = await demo.getJson(statusUrl);
      if (!ok || data.status === "pending") return false;
      if (data.status === "approved") {
        document.getElementById("welcome-name").textContent = `${data.name} (${data.user_id})`;
        demo.show(root, "welcome");
      } else {
        const reason = REFUSALS[data.status] || "The login did not succeed.";
        document.getElementById("refusal-reason").textContent = reason;
        demo.show(root, "refusal", `Not logged in. ${reason}`);
      }
      return true;
    });
  });
});
