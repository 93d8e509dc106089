"use strict";
(async () => {
  const me = await (await fetch("/api/v1/auth/me")).json();
  document.getElementById("who").textContent = `${me.display_name || me.username} (${me.role})`;
  const main = document.getElementById("main");
  main.textContent = "";
  const p = document.createElement("p");
  p.textContent = me.sip_endpoint ? `Your softphone account: ${me.sip_endpoint}` : "No softphone linked.";
  main.append(p);
  document.getElementById("logout").addEventListener("click", async () => {
    await fetch("/api/v1/auth/logout", {method: "POST", headers: {"X-CSRF-Token": me.csrf_token}});
    location.assign("/login");
  });
})();
