"use strict";
// The webshop checkout: Pay -> 3-D Secure (server-side, as the webshop) -> wait -> receipt or refusal.
document.addEventListener("DOMContentLoaded", () => {
  const root = document.getElementById("shop");
  const form = document.getElementById("pay-form");
  const error = document.getElementById("pay-error");
  const button = document.getElementById("pay");

  const REFUSALS = {
    N: "The payment was not approved.",
    U: "The payment could not be approved in time, or the card holder's app is not available.",
  };
  const REASONS = {
    "01": "The payment was denied in the app.",
    "08": "This card is not known to the card issuer.",
    "09": "The approval failed a security check.",
    "11": "The payment was denied and reported as fraud.",
    "12": "The card holder is temporarily locked.",
    "13": "The card holder has no activated app.",
  };

  function refuse(result) {
    let reason = REASONS[result.transStatusReason] || REFUSALS[result.transStatus] || "The payment was not completed.";
    if (result.challengeCancel === "03") reason = "The approval expired before an answer came.";
    if (result.challengeCancel === "07") reason = "The payment was cancelled.";
    document.getElementById("refusal-reason").textContent = reason;
    demo.show(root, "refusal", `Payment not completed. ${reason}`);
  }

  function receipt(result, payment) {
    document.getElementById("receipt-amount").textContent = `${payment.amount} ${payment.currency}`;
    document.getElementById("receipt-status").textContent = result.transStatus;
    document.getElementById("receipt-eci").textContent = result.eci;
    document.getElementById("receipt-id").textContent = result.acsTransID;
    demo.show(root, "receipt", `Payment approved: ${payment.amount} ${payment.currency}.`);
  }

  form.addEventListener("submit", async (event) => {
    event.preventDefault();
    error.hidden = true;
    button.disabled = true;
    let answer;
    try {
      answer = await demo.postForm(root.dataset.payUrl, form);
    } catch (networkError) {
      answer = { ok: false, data: { detail: "The shop could not be reached." } };
    }
    button.disabled = false;
    if (!answer.ok) {
      const invalidCard = answer.data && answer.data.errors && answer.data.errors.acctNumber;
      error.textContent = invalidCard ? "That card number is not valid." : demo.problemText(answer.data, "The payment could not be started.");
      error.hidden = false;
      document.getElementById("pan").focus();
      return;
    }
    const ares = answer.data;
    if (ares.transStatus !== "D") {
      refuse(ares);
      return;
    }
    document.getElementById("waiting-amount").textContent = `${ares.amount} ${ares.currency}`;
    document.getElementById("waiting-payee").textContent = ares.payee;
    demo.show(root, "waiting", `Approve ${ares.amount} ${ares.currency} to ${ares.payee} in your NemID app.`);
    const statusUrl = root.dataset.statusUrl.replace("ACS_TRANS_ID", encodeURIComponent(ares.acsTransID));
    demo.poll(async () => {
      const { ok, data } = await demo.getJson(statusUrl);
      if (!ok || data.transStatus === "D") return false;
      if (data.transStatus === "Y") receipt(data, ares);
      else refuse(data);
      return true;
    });
  });
});
