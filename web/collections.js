// Collections: create, list, delete; upload files (multipart/form-data, one
// progress bar and one message per file); list and delete documents.
"use strict";

// ---- Collections ----------------------------------------------------------

async function refreshCollections() {
  if (!state.server || !state.server.rag) return;
  let list;
  try {
    list = await api("GET", "/v1/collections");
  } catch (e) {
    showBanner(e.message);
    return;
  }
  const select = $("chat-collection");
  const keep = select.value;
  select.replaceChildren(select.options[0]);
  const ul = $("collection-list");
  ul.replaceChildren();
  for (const c of list.data) {
    const o = document.createElement("option");
    o.value = c.name;
    o.textContent = `${c.name} (${c.documents} documents)`;
    select.appendChild(o);
    const li = document.createElement("li");
    li.textContent = `${c.name} \u00b7 ${c.documents} docs \u00b7 ${c.chunks} chunks`;
    li.dataset.name = c.name;
    li.classList.toggle("active", c.name === state.collection);
    li.addEventListener("click", () => showCollection(c.name));
    ul.appendChild(li);
  }
  select.value = [...select.options].some((o) => o.value === keep) ? keep : "";
}

async function showCollection(name) {
  state.collection = name;
  $("collection-title").textContent = name;
  $("collection-actions").classList.remove("hidden");
  for (const li of $("collection-list").children) li.classList.toggle("active", li.dataset.name === name);
  let c;
  try {
    c = await api("GET", "/v1/collections/" + encodeURIComponent(name));
  } catch (e) {
    showBanner(e.message);
    return;
  }
  const table = $("document-table");
  const body = table.tBodies[0];
  body.replaceChildren();
  for (const d of c.documents) {
    const tr = document.createElement("tr");
    for (const v of [d.name, d.format, d.bytes, d.chunks]) {
      const td = document.createElement("td");
      td.textContent = String(v);
      tr.appendChild(td);
    }
    const td = document.createElement("td");
    const del = document.createElement("button");
    del.textContent = "Delete";
    del.className = "danger";
    del.addEventListener("click", async () => {
      try {
        await api("DELETE", `/v1/collections/${encodeURIComponent(name)}/documents/${d.id}`);
      } catch (e) { showBanner(e.message); }
      await showCollection(name);
      await refreshCollections();
    });
    td.appendChild(del);
    tr.appendChild(td);
    body.appendChild(tr);
  }
  table.classList.toggle("hidden", c.documents.length === 0);
}

// One file through multipart/form-data with an upload progress bar.
function uploadFile(collection, file, row) {
  return new Promise((resolve) => {
    const xhr = new XMLHttpRequest();
    xhr.open("POST", `/v1/collections/${encodeURIComponent(collection)}/documents`);
    for (const [k, v] of Object.entries(authHeaders())) xhr.setRequestHeader(k, v);
    xhr.upload.addEventListener("progress", (e) => {
      if (e.lengthComputable) row.progress.value = e.loaded / e.total;
    });
    const finish = (ok, message) => {
      row.li.classList.add(ok ? "done" : "rejected");
      row.status.textContent = message;
      if (ok) row.progress.value = 1;
      resolve(ok);
    };
    xhr.addEventListener("load", () => {
      let j = null;
      try { j = JSON.parse(xhr.responseText); } catch { /* not JSON */ }
      if (xhr.status === 200 && j) finish(true, `stored: ${j.format}, ${j.chunks} chunks`);
      else finish(false, "rejected: " + explain(xhr.status, (j && j.error && j.error.message) || xhr.statusText));
    });
    xhr.addEventListener("error", () => finish(false, "failed: the connection broke"));
    const form = new FormData();
    form.append("file", file, file.name);
    xhr.send(form);
  });
}

async function uploadFiles(files) {
  const collection = state.collection;
  if (!collection) return;
  const rows = [...files].map((file) => {
    const li = document.createElement("li");
    const name = document.createElement("span");
    name.textContent = file.name;
    const progress = document.createElement("progress");
    progress.max = 1;
    progress.value = 0;
    const status = document.createElement("span");
    status.className = "upload-status";
    status.textContent = "waiting";
    li.append(name, progress, status);
    $("upload-list").appendChild(li);
    return { file, li, progress, status };
  });
  for (const row of rows) {
    row.status.textContent = "uploading";
    await uploadFile(collection, row.file, row);
  }
  await showCollection(collection);
  await refreshCollections();
}
