// chunkserve's web page: loads the server's information and wires the
// tabs, the chat, the collections, the dashboard and the settings
// (page.js, settings.js, chat.js, collections.js, dashboard.js).
"use strict";

async function loadServer() {
  try {
    state.server = await api("GET", "/v1/server");
    showBanner("");
  } catch (e) {
    showBanner(e.message);
    return false;
  }
  showModelInfo();
  fillSettingsForm();
  startDashboard();  // the plots cover the whole visit, not just the time on their tab
  await refreshCollections();
  return true;
}


// ---- Wiring ---------------------------------------------------------------------

function showTab(name) {
  for (const t of document.querySelectorAll(".tab")) t.classList.toggle("active", t.dataset.tab === name);
  for (const p of document.querySelectorAll(".panel")) p.classList.toggle("hidden", p.id !== "tab-" + name);
  if (name === "dashboard") startDashboard();
  if (name === "collections") refreshCollections();
}

function init() {
  $("api-key").value = sessionStorage.getItem("chunkserve.key") || "";
  $("api-key").addEventListener("change", () => {
    sessionStorage.setItem("chunkserve.key", $("api-key").value.trim());
    loadServer();
  });
  for (const t of document.querySelectorAll(".tab")) t.addEventListener("click", () => showTab(t.dataset.tab));
  $("composer").addEventListener("submit", (e) => {
    e.preventDefault();
    const text = $("prompt").value.trim();
    if (!text || state.busy) return;
    $("prompt").value = "";
    ask(text);
  });
  $("prompt").addEventListener("keydown", (e) => {
    if (e.key === "Enter" && !e.shiftKey) { e.preventDefault(); $("composer").requestSubmit(); }
  });
  $("stop").addEventListener("click", () => state.busy && state.busy.controller.abort());
  $("regenerate").addEventListener("click", regenerate);
  $("new-conversation").addEventListener("click", () => {
    if (state.busy) return;
    state.current = null;
    currentConversation();
    renderConversationList();
    renderMessages();
  });
  $("citation-close").addEventListener("click", () => $("citation").classList.add("hidden"));
  $("create-collection").addEventListener("submit", async (e) => {
    e.preventDefault();
    const name = $("collection-name").value.trim();
    try {
      await api("POST", "/v1/collections", { name });
      $("collection-name").value = "";
      showBanner("");
      await refreshCollections();
      await showCollection(name);
    } catch (err) { showBanner(err.message); }
  });
  $("upload-input").addEventListener("change", (e) => { uploadFiles(e.target.files); e.target.value = ""; });
  $("delete-collection").addEventListener("click", async () => {
    if (!state.collection || !confirm(`Delete the collection '${state.collection}' and its documents?`)) return;
    try { await api("DELETE", "/v1/collections/" + encodeURIComponent(state.collection)); } catch (err) { showBanner(err.message); }
    state.collection = null;
    $("collection-title").textContent = "Select a collection";
    $("collection-actions").classList.add("hidden");
    $("document-table").classList.add("hidden");
    await refreshCollections();
  });
  $("settings").addEventListener("change", readSettingsForm);
  $("settings-reset").addEventListener("click", () => {
    state.settings = null;
    store.set("settings", null);
    fillSettingsForm();
  });
  setBusy(null);
  renderConversationList();
  renderMessages();
  loadServer();
}

init();
