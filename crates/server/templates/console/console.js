// The console's one script, and only an enhancement: a file chosen in an
// <input type="file" data-fills="ID"> is read into the textarea ID, which the form sends.
for (const input of document.querySelectorAll("input[type=file][data-fills]")) {
  input.addEventListener("change", async () => {
    const file = input.files[0];
    if (file) document.getElementById(input.dataset.fills).value = await file.text();
  });
}

// A <button data-copies="ID" hidden> copies the value of the field ID; it is shown only where
// the script runs, since without it there is nothing to click.
for (const button of document.querySelectorAll("button[data-copies]")) {
  button.hidden = false;
  button.addEventListener("click", async () => {
    const field = document.getElementById(button.dataset.copies);
    field.select();
    await navigator.clipboard?.writeText(field.value);
    button.textContent = "Copied";
  });
}
