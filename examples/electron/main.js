// Main process: windows and IPC only. The engine lives in a utility process (worker.js), so a
// crash or a long start-up there never touches the UI, and the renderer never loads native code.
const { app, BrowserWindow, ipcMain, utilityProcess } = require('electron')
const path = require('node:path')

let worker
const pending = new Map()
let nextId = 1

function startWorker() {
  worker = utilityProcess.fork(path.join(__dirname, 'worker.js'), [], { serviceName: 'lichtbild' })
  worker.on('message', ({ id, ok, result, error }) => {
    const p = pending.get(id)
    if (!p) return
    pending.delete(id)
    ok ? p.resolve(result) : p.reject(Object.assign(new Error(error.message), { code: error.code }))
  })
  worker.on('exit', () => {
    for (const p of pending.values()) p.reject(new Error('the lichtbild worker stopped'))
    pending.clear()
    worker = undefined
  })
}

// The renderer sends the photo's bytes and the person's consent; it gets the JPEG bytes back.
ipcMain.handle('lichtbild:headshot', (_event, bytes, options) => {
  if (!worker) startWorker()
  const id = nextId++
  return new Promise((resolve, reject) => {
    pending.set(id, { resolve, reject })
    worker.postMessage({ id, bytes, options })
  })
})

app.whenReady().then(() => {
  startWorker()
  const win = new BrowserWindow({
    width: 900,
    height: 700,
    webPreferences: { preload: path.join(__dirname, 'preload.js'), contextIsolation: true, sandbox: true },
  })
  win.loadFile('index.html')
})

app.on('window-all-closed', () => app.quit())
