//! From a recipe to files: what a build adds to, or replaces in, its base. Pure: the inputs
//! are what the base contains and where the recipe's files are; the output is the list of
//! changes and the files Wimdeck writes for them (answer file, shell, SYSTEM hive), which the
//! build puts in its working folder.

use std::path::PathBuf;

use super::{
    facts::{self, BaseFacts},
    recipe::{Recipe, Shell},
    unattend::{self, Additions, Command},
    winpeshl::{self, LaunchApp},
};
use crate::regf::{Hive, RegValue};

/// How Windows PE sees the folder a prestart command's files go to (`Wimdeck\Prestart` in
/// the image's `Windows` folder).
pub const PRESTART_DIR_IN_PE: &str = r"X:\Windows\Wimdeck\Prestart";

/// What a build reads besides the recipe.
#[derive(Debug, Clone, Default)]
pub struct Inputs {
    /// `x86`, `amd64` or `arm64`.
    pub architecture: String,
    pub facts: BaseFacts,
    /// The base's own `X:\Unattend.xml`, `winpeshl.ini` and SYSTEM hive, when it has them and
    /// the recipe needs them.
    pub answer_file: Option<String>,
    pub winpeshl: Option<String>,
    /// Whether the image's `winpeshl.ini` was UTF-16 (it is written back the same way).
    pub winpeshl_utf16: bool,
    pub system_hive: Option<Vec<u8>>,
    /// The store folder of each driver of the recipe, in the recipe's order.
    pub driver_dirs: Vec<PathBuf>,
    pub prestart_dir: Option<PathBuf>,
    pub background: Option<PathBuf>,
    /// For a capture or discover image: its name and description, which the image's
    /// metadata takes.
    pub name: String,
    pub description: String,
}

/// A file the build adds, from the store or written by Wimdeck.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Source {
    Path(PathBuf),
    Written(Vec<u8>),
}

/// What a build does to its base.
#[derive(Debug, Clone, Default)]
pub struct Plan {
    /// (target inside the image, what goes there), in order.
    pub adds: Vec<(String, Source)>,
    /// The image's name and description in the WIM's metadata, when they change.
    pub properties: Option<(String, String)>,
}

impl Plan {
    pub fn is_empty(&self) -> bool {
        self.adds.is_empty() && self.properties.is_none()
    }
}

/// The commands `wpeinit` runs for a recipe, in order: language, keyboard, the testing
/// command prompt, the prestart command.
pub fn commands(recipe: &Recipe) -> Vec<Command> {
    let c = &recipe.customization;
    let mut out = Vec::new();
    if let Some(language) = &c.ui_language {
        out.push(Command {
            path: format!("wpeutil.exe SetMuiLanguage {language}"),
            description: "Wimdeck: Windows PE language".into(),
        });
    }
    if let Some(locale) = &c.input_locale {
        out.push(Command {
            path: format!("wpeutil.exe SetKeyboardLayout {locale}"),
            description: "Wimdeck: input locale".into(),
        });
    }
    if c.command_support {
        out.push(Command {
            // `start` returns at once: the prompt stays open beside whatever runs next.
            path: "cmd.exe /c start \"Command prompt (Wimdeck command support: testing only)\" cmd.exe /k title Wimdeck command support - testing only".into(),
            description: "Wimdeck: command support (testing only)".into(),
        });
    }
    if let Some(prestart) = &c.prestart {
        let path = match &prestart.files {
            // The command runs in the folder its files were copied to.
            Some(_) => format!(
                "cmd.exe /c cd /d {PRESTART_DIR_IN_PE} && {}",
                prestart.command
            ),
            None => prestart.command.clone(),
        };
        out.push(Command {
            path,
            description: "Wimdeck: prestart command".into(),
        });
    }
    out
}

/// The program a shell starts, found where the base has it.
pub fn launch_app(shell: &Shell) -> LaunchApp {
    match shell {
        Shell::Capture => LaunchApp {
            program: r"%SYSTEMROOT%\system32\wdscapture.exe".into(),
            arguments: None,
        },
        Shell::Discover { server } => LaunchApp {
            // Setup sits in X:\sources in the boot images that carry it; %SYSTEMDRIVE% is X:.
            program: r"%SYSTEMDRIVE%\sources\setup.exe".into(),
            arguments: Some(match server {
                Some(server) => format!("/wds /wdsdiscover /wdsserver:{server}"),
                None => "/wds /wdsdiscover".into(),
            }),
        },
    }
}

/// The changes a build of `recipe` makes to a base described by `inputs`.
pub fn make(recipe: &Recipe, inputs: &Inputs) -> Result<Plan, String> {
    let mut plan = Plan::default();
    let f = &inputs.facts;
    let wimdeck = format!("{}/Wimdeck", f.windows_dir);
    for (driver, dir) in recipe.drivers.iter().zip(&inputs.driver_dirs) {
        plan.adds.push((
            format!("{wimdeck}/Drivers/{}", driver.folder_name()),
            Source::Path(dir.clone()),
        ));
    }
    let c = &recipe.customization;
    if let (Some(_), Some(dir)) = (&c.prestart, &inputs.prestart_dir) {
        plan.adds
            .push((format!("{wimdeck}/Prestart"), Source::Path(dir.clone())));
    }
    if let Some(background) = &inputs.background {
        plan.adds.push((
            f.in_system32(&f.background, "winpe.jpg"),
            Source::Path(background.clone()),
        ));
    }
    if let Some(mb) = c.scratch_mb
        && f.scratch_mb != Some(mb)
    {
        let (Some(target), Some(bytes)) = (&f.system_hive, inputs.system_hive.as_deref()) else {
            return Err("the image has no SYSTEM hive (Windows\\System32\\config\\SYSTEM) to hold the scratch space".into());
        };
        let mut hive =
            Hive::parse(bytes).map_err(|e| format!("its SYSTEM hive cannot be read: {e}"))?;
        hive.root
            .find_or_new(facts::SCRATCH_KEY)
            .set_value(facts::SCRATCH_VALUE, &RegValue::Dword(mb));
        // Above the logs' entries, which Windows must not replay onto the new hive.
        hive.sequence = hive.sequence.saturating_add(1);
        plan.adds
            .push((target.clone(), Source::Written(hive.to_bytes())));
    }
    let additions = Additions {
        architecture: inputs.architecture.clone(),
        driver_paths: recipe
            .drivers
            .iter()
            .map(|d| format!(r"{}\{}", unattend::DRIVERS_DIR_IN_PE, d.folder_name()))
            .collect(),
        commands: commands(recipe),
    };
    if !additions.driver_paths.is_empty() || !additions.commands.is_empty() {
        let answer = unattend::compose(inputs.answer_file.as_deref(), &additions)
            .map_err(|e| format!("X:\\Unattend.xml cannot be used: {e}"))?;
        if let Some(answer) = answer {
            let target = f
                .answer_file
                .clone()
                .unwrap_or_else(|| facts::ANSWER_FILE.to_owned());
            plan.adds
                .push((target, Source::Written(answer.into_bytes())));
        }
    }
    if let Some(shell) = &recipe.shell {
        let ini = winpeshl::merge(inputs.winpeshl.as_deref(), &launch_app(shell));
        let bytes = if inputs.winpeshl_utf16 {
            [0xFF, 0xFE]
                .into_iter()
                .chain(ini.encode_utf16().flat_map(u16::to_le_bytes))
                .collect()
        } else {
            ini.into_bytes()
        };
        plan.adds.push((
            f.in_system32(&f.winpeshl, "winpeshl.ini"),
            Source::Written(bytes),
        ));
        plan.properties = Some((inputs.name.clone(), inputs.description.clone()));
    }
    Ok(plan)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::boot::recipe::{Customization, Prestart, RecipeDriver};

    fn facts() -> BaseFacts {
        BaseFacts {
            scratch_mb: Some(32),
            system_hive: Some("/Windows/System32/config/SYSTEM".into()),
            ..BaseFacts::default()
        }
    }

    fn system_hive() -> Vec<u8> {
        let mut hive = Hive::new("ROOT", 1);
        hive.root
            .find_or_new(facts::SCRATCH_KEY)
            .set_value(facts::SCRATCH_VALUE, &RegValue::Dword(32));
        hive.to_bytes()
    }

    fn full_recipe() -> Recipe {
        Recipe {
            drivers: vec![RecipeDriver {
                id: 1,
                name: "Intel NIC".into(),
                inf_name: "e1d.inf".into(),
                version: "1".into(),
                content_hash: "abcdef0123456789".into(),
            }],
            customization: Customization {
                prestart: Some(Prestart {
                    command: "cmd /c pre.cmd".into(),
                    files: None,
                }),
                command_support: true,
                scratch_mb: Some(256),
                input_locale: Some("0407:00000407".into()),
                ui_language: Some("de-DE".into()),
                background: None,
            },
            shell: Some(Shell::Discover {
                server: Some("deploy01".into()),
            }),
        }
    }

    #[test]
    fn a_full_recipe_changes_each_file_once() {
        let inputs = Inputs {
            architecture: "amd64".into(),
            system_hive: Some(system_hive()),
            driver_dirs: vec![PathBuf::from("/store/e1d")],
            facts: facts(),
            name: "Discover (x64)".into(),
            description: "Finds deploy01".into(),
            ..Inputs::default()
        };
        let plan = make(&full_recipe(), &inputs).expect("plan");
        let targets: Vec<&str> = plan.adds.iter().map(|(t, _)| t.as_str()).collect();
        assert_eq!(
            targets,
            vec![
                "/Windows/Wimdeck/Drivers/e1d-abcdef012345",
                "/Windows/System32/config/SYSTEM",
                "/Unattend.xml",
                "/Windows/System32/winpeshl.ini",
            ]
        );
        let hive = match &plan.adds[1].1 {
            Source::Written(bytes) => Hive::parse(bytes).expect("a hive"),
            other => panic!("{other:?}"),
        };
        assert_eq!(
            hive.root
                .find(facts::SCRATCH_KEY)
                .and_then(|k| k.value(facts::SCRATCH_VALUE))
                .and_then(|v| v.decoded()),
            Some(RegValue::Dword(256))
        );
        let answer = match &plan.adds[2].1 {
            Source::Written(bytes) => String::from_utf8(bytes.clone()).expect("utf-8"),
            other => panic!("{other:?}"),
        };
        let order: Vec<usize> = [
            "SetMuiLanguage de-DE",
            "SetKeyboardLayout 0407:00000407",
            "cmd.exe /c start",
            "cmd /c pre.cmd",
        ]
        .iter()
        .map(|needle| answer.find(needle).expect(needle))
        .collect();
        assert!(order.windows(2).all(|w| w[0] < w[1]), "{answer}");
        assert_eq!(
            plan.properties,
            Some(("Discover (x64)".into(), "Finds deploy01".into()))
        );
    }

    #[test]
    fn the_same_recipe_plans_the_same_bytes() {
        let inputs = Inputs {
            architecture: "amd64".into(),
            system_hive: Some(system_hive()),
            driver_dirs: vec![PathBuf::from("/store/e1d")],
            facts: facts(),
            ..Inputs::default()
        };
        let a = make(&full_recipe(), &inputs).expect("plan");
        let b = make(&full_recipe(), &inputs).expect("plan");
        assert_eq!(a.adds, b.adds);
    }

    #[test]
    fn files_go_where_the_image_has_them_whatever_their_case() {
        let mut recipe = full_recipe();
        recipe.shell = Some(Shell::Capture);
        let inputs = Inputs {
            architecture: "amd64".into(),
            system_hive: Some(system_hive()),
            driver_dirs: vec![PathBuf::from("/store/e1d")],
            winpeshl: Some("[LaunchApps]\r\nx.exe\r\n".into()),
            winpeshl_utf16: true,
            facts: BaseFacts {
                windows_dir: "/windows".into(),
                system32_dir: "/windows/system32".into(),
                system_hive: Some("/windows/system32/config/system".into()),
                answer_file: Some("/unattend.xml".into()),
                winpeshl: Some("/windows/system32/WinPEShl.ini".into()),
                ..facts()
            },
            ..Inputs::default()
        };
        let plan = make(&recipe, &inputs).expect("plan");
        let targets: Vec<&str> = plan.adds.iter().map(|(t, _)| t.as_str()).collect();
        assert_eq!(
            targets,
            vec![
                "/windows/Wimdeck/Drivers/e1d-abcdef012345",
                "/windows/system32/config/system",
                "/unattend.xml",
                "/windows/system32/WinPEShl.ini",
            ]
        );
        match &plan.adds[3].1 {
            Source::Written(bytes) => assert_eq!(&bytes[..4], &[0xFF, 0xFE, b'[', 0]),
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn an_empty_recipe_changes_nothing() {
        let plan = make(&Recipe::default(), &Inputs::default()).expect("plan");
        assert!(plan.is_empty());
    }

    #[test]
    fn scratch_space_as_the_image_has_it_leaves_the_hive_alone() {
        let mut recipe = Recipe::default();
        recipe.customization.scratch_mb = Some(32);
        let inputs = Inputs {
            facts: facts(),
            ..Inputs::default()
        };
        assert!(make(&recipe, &inputs).expect("plan").is_empty());
    }

    #[test]
    fn prestart_files_make_the_command_run_in_their_folder() {
        let mut recipe = Recipe::default();
        recipe.customization.prestart = Some(Prestart {
            command: "cmd /c pre.cmd".into(),
            files: Some(crate::boot::recipe::Asset {
                sha256: "00".into(),
                name: "Prestart".into(),
                size_bytes: 1,
                files: 1,
            }),
        });
        assert_eq!(
            commands(&recipe)[0].path,
            r"cmd.exe /c cd /d X:\Windows\Wimdeck\Prestart && cmd /c pre.cmd"
        );
    }
}
