// The renderer's only door to lichtbild: send bytes, get bytes. No Node, no native code there.
const { contextBridge, ipcRenderer } = require('electron')

contextBridge.exposeInMainWorld('lichtbild', {
  headshot: (bytes, options) => ipcRenderer.invoke('lichtbild:headshot', bytes, options),
})
