# kds is built by CMake (CMakeLists.txt is the single source of truth for sources and flags).
# This file only exists so that `node-gyp rebuild` -- what npm and some tools run for packages with a
# binding.gyp -- builds the same addon: its one action runs scripts/build-native.js (cmake-js), which
# writes build/Release/kds.node. Nothing here lists sources or compiler flags, so it cannot drift.
{
  "targets": [
    {
      "target_name": "kds",
      "type": "none",
      "actions": [
        {
          "action_name": "cmake_js_build",
          "inputs": ["CMakeLists.txt"],
          "outputs": ["<(module_root_dir)/build/Release/kds.node"],
          "action": ["node", "<(module_root_dir)/scripts/build-native.js"]
        }
      ]
    }
  ]
}
