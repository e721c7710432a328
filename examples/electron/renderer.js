// Runs in the sandboxed renderer: reads the file, asks for consent, shows the result.
document.getElementById('go').addEventListener('click', async () => {
  const status = document.getElementById('status')
  const file = document.getElementById('photo').files[0]
  if (!file) return
  const faceGeometry = document.getElementById('consent').checked
  try {
    status.textContent = 'working...'
    const bytes = new Uint8Array(await file.arrayBuffer())
    const r = await window.lichtbild.headshot(bytes, { preset: 'bewerbung-45x60', background: 'studio-grey', consent: { faceGeometry } })
    document.getElementById('out').src = URL.createObjectURL(new Blob([r.image], { type: 'image/jpeg' }))
    status.textContent = `${r.width}x${r.height}` + r.findings.map((f) => ` · ${f.message}`).join('')
  } catch (e) {
    status.textContent = e.message
  }
})
