'use strict'
// An empty module: what requiring any module costs in a fresh Node process (the cold-start bound).
