//! Every WGSL family through a second, independent shader compiler: Chromium's WebGPU (Dawn and
//! Tint, whose uniformity rules are stricter than naga's) on its software adapter (SwiftShader),
//! headless. Each family's whole source as gangpu compiles it is made into a shader module; the
//! test fails naming the family and Tint's message. Families that use subgroups get the
//! `enable subgroups;` directive Tint requires (naga 30 rejects it; wgpu enables subgroups by
//! device feature). Needs Debian's chromium (scripts/test.sh installs it).

use gangpu::kernels::Family;
use std::process::Command;

fn chromium() -> &'static str {
    for c in ["chromium", "chromium-browser", "google-chrome"] {
        if Command::new(c).arg("--version").output().is_ok_and(|o| o.status.success()) {
            return c;
        }
    }
    panic!("this test compiles the shaders in Chromium's WebGPU: `apt-get install chromium` (scripts/test.sh installs it)");
}

const PAGE: &str = r#"<html><body><pre id="out">pending</pre><script>
const FAMILIES = __FAMILIES__;
// headless Chromium dumps the page once it is idle in virtual time; compilation finishes in the
// GPU process, so keep the page busy (a timer that burns a little real time) until it is done
let done = false;
(function spin() { if (done) return; let x = 0; for (let i = 0; i < 3e6; i++) x += i; setTimeout(spin, 10); })();
(async () => {
  const out = document.getElementById('out');
  const result = { adapter: null, families: [] };
  try {
    const adapter = await navigator.gpu.requestAdapter();
    if (!adapter) throw new Error('no WebGPU adapter');
    result.adapter = [adapter.info.vendor, adapter.info.architecture, adapter.info.description].join(' ').trim();
    result.subgroups = adapter.features.has('subgroups');
    const device = await adapter.requestDevice({ requiredFeatures: result.subgroups ? ['subgroups'] : [] });
    for (const f of FAMILIES) {
      if (f.subgroups && !result.subgroups) { result.families.push({ name: f.name, skipped: 'no subgroups' }); continue; }
      device.pushErrorScope('validation');
      const module = device.createShaderModule({ code: (f.subgroups ? 'enable subgroups;\n' : '') + f.code, label: f.name });
      const info = await module.getCompilationInfo();
      const err = await device.popErrorScope();
      const messages = info.messages.filter(m => m.type === 'error').map(m => `line ${m.lineNum}: ${m.message}`);
      if (err) messages.push(err.message);
      result.families.push({ name: f.name, errors: messages, warnings: info.messages.filter(m => m.type === 'warning').length });
    }
  } catch (e) { result.error = String(e); }
  out.textContent = JSON.stringify(result);
  done = true;
})();
</script></body></html>"#;

#[test]
fn every_family_compiles_in_chromiums_webgpu() {
    let families: Vec<serde_json::Value> =
        Family::all().map(|f| serde_json::json!({ "name": f.name(), "code": f.source(), "subgroups": f.uses_subgroups() })).collect();
    let page = PAGE.replace("__FAMILIES__", &serde_json::to_string(&families).expect("sources as JSON"));
    let dir = std::env::temp_dir().join(format!("gangpu-webgpu-{}", std::process::id()));
    std::fs::create_dir_all(&dir).expect("scratch folder");
    let path = dir.join("shaders.html");
    std::fs::write(&path, page).expect("write the page");
    let out = Command::new(chromium())
        .args([
            "--headless",
            "--no-sandbox",
            "--enable-unsafe-webgpu",
            "--enable-features=Vulkan",
            "--use-webgpu-adapter=swiftshader",
            "--disable-background-networking",
        ])
        .args(["--virtual-time-budget=600000", "--dump-dom", &format!("file://{}", path.display())])
        .output()
        .expect("run chromium");
    let dom = String::from_utf8_lossy(&out.stdout);
    let at = dom.find("<pre id=\"out\">").unwrap_or_else(|| panic!("no result in the page:\n{dom}\n{}", String::from_utf8_lossy(&out.stderr)));
    let text = &dom[at + "<pre id=\"out\">".len()..];
    let text = text[..text.find("</pre>").expect("end of result")].replace("&amp;", "&").replace("&lt;", "<").replace("&gt;", ">").replace("&quot;", "\"");
    let r: serde_json::Value = serde_json::from_str(&text).unwrap_or_else(|e| panic!("the page did not finish ({e}): {text}"));
    assert!(r.get("error").is_none(), "WebGPU in Chromium: {}", r["error"]);
    eprintln!("Chromium WebGPU adapter: {} (subgroups: {})", r["adapter"], r["subgroups"]);
    let list = r["families"].as_array().expect("families");
    assert_eq!(list.len(), families.len(), "{r}");
    let mut failed = Vec::new();
    for f in list {
        assert!(f.get("skipped").is_none(), "{}: skipped ({}): SwiftShader's WebGPU offers subgroups, so every family must compile", f["name"], f["skipped"]);
        let errors = f["errors"].as_array().expect("errors");
        eprintln!("{}: {} errors, {} warnings", f["name"], errors.len(), f["warnings"]);
        if !errors.is_empty() {
            failed.push(format!("{}: {}", f["name"], errors.iter().map(|e| e.as_str().unwrap_or("")).collect::<Vec<_>>().join("; ")));
        }
    }
    assert!(failed.is_empty(), "Tint rejects:\n{}", failed.join("\n"));
}
