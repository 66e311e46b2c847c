// The console's one script, and only an enhancement: a file chosen in an
// <input type="file" data-fills="ID"> is read into the textarea ID, which the form sends.
for (const input of document.querySelectorAll("input[type=file][data-fills]")) {
  input.addEventListener("change", async () => {
    const file = input.files[0];
    if (file) document.getElementById(input.dataset.fills).value = await file.text();
  });
}
