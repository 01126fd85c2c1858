{
  "targets": [
    {
      "target_name": "sigaudit",
      "sources": ["native/probe.cc", "native/ring-reader.cc"],
      "include_dirs": [
        "<!(node -p \"require('node-addon-api').include_dir\")",
        "bpf",
        "build/bpf"
      ],
      "defines": ["NAPI_VERSION=8", "NAPI_CPP_EXCEPTIONS"],
      "cflags_cc!": ["-fno-exceptions"],
      "cflags_cc": ["-std=c++17", "-fexceptions"],
      "libraries": ["-lbpf", "-lelf", "-lz"]
    },
    {
      "target_name": "sigaudit_sqlite",
      "type": "loadable_module",
      "product_extension": "so",
      "sources": ["native/extension.c", "native/report-lines.c", "native/ingest.c", "native/tally.c"],
      "include_dirs": ["bpf", "<!(node -p \"require('path').join(require('path').dirname(require.resolve('better-sqlite3/package.json')), 'deps', 'sqlite3')\")"],
      "cflags": ["-std=c11", "-O2"]
    },
    {
      "target_name": "notify",
      "sources": ["native/notify.cc"],
      "include_dirs": ["<!(node -p \"require('node-addon-api').include_dir\")"],
      "defines": ["NAPI_VERSION=8", "NAPI_CPP_EXCEPTIONS"],
      "cflags_cc!": ["-fno-exceptions"],
      "cflags_cc": ["-std=c++17", "-fexceptions"]
    }
  ]
}
