// pompelmi is a native addon: Next must load it from node_modules at run time, not bundle it.
export default {
  serverExternalPackages: ['pompelmi'],
}
