; Compiles installers/windows/hooks.nsh the way Tauri's NSIS template uses it
; (LogicLib, the template's variables and defines, each hook in an install or
; uninstall section), so a typo fails CI on Linux. scripts/test-installers.sh:
;   makensis -WX -DHOOKS=installers/windows/hooks.nsh -DOUT=/tmp/x.exe installers/windows/check-hooks.nsi
Unicode true
!include LogicLib.nsh
!define MAINBINARYNAME "specbridge-tray"
Var UpdateMode
Var DeleteAppDataCheckboxState
!include "${HOOKS}"
OutFile "${OUT}"
RequestExecutionLevel user
InstallDir "$LOCALAPPDATA\specbridge-check"
Section "install"
  !insertmacro NSIS_HOOK_PREINSTALL
  !insertmacro NSIS_HOOK_POSTINSTALL
  WriteUninstaller "$INSTDIR\uninstall.exe"
SectionEnd
Section "uninstall"
  !insertmacro NSIS_HOOK_PREUNINSTALL
  !insertmacro NSIS_HOOK_POSTUNINSTALL
SectionEnd
; Tauri's template sets these from /UPDATE and the uninstaller's checkbox.
Function .onInit
  StrCpy $UpdateMode 0
FunctionEnd
Function un.onInit
  StrCpy $UpdateMode 0
  StrCpy $DeleteAppDataCheckboxState 1
FunctionEnd
