; specbridge NSIS installer hooks (tauri.conf.json: bundle.windows.nsis.installerHooks).
;
; Where the app keeps things on Windows:
;   %APPDATA%\specbridge\config      config.toml, tray.toml, jobs.json (token.json only with the file vault)
;   %LOCALAPPDATA%\specbridge\data   index, outbox, audit log, the built-in hub's database
;   %LOCALAPPDATA%\dev.specbridge.tray   WebView2 data (Tauri's template removes it with the checkbox below)
;   Credential Manager, service "specbridge"   the hub token
;   HKCU\...\CurrentVersion\Run "specbridge"   "Start at login", only once the user turned it on
;
; An upgrade (the updater runs the installer with /UPDATE, so $UpdateMode = 1)
; must keep all of it: pairing, machine name and folders survive upgrades.

!macro NSIS_HOOK_PREINSTALL
!macroend

!macro NSIS_HOOK_POSTINSTALL
!macroend

!macro NSIS_HOOK_PREUNINSTALL
  ${If} $UpdateMode <> 1
    ; The binary is about to go: a login item pointing at it would fail at every login.
    DeleteRegValue HKCU "Software\Microsoft\Windows\CurrentVersion\Run" "specbridge"
    DeleteRegValue HKCU "Software\Microsoft\Windows\CurrentVersion\Explorer\StartupApproved\Run" "specbridge"
    ; Only when the user ticked "Delete the application data": the app forgets
    ; its token (Credential Manager) while it still can, then its folders go.
    ${If} $DeleteAppDataCheckboxState = 1
      ExecWait '"$INSTDIR\${MAINBINARYNAME}.exe" --forget-everything'
    ${EndIf}
  ${EndIf}
!macroend

!macro NSIS_HOOK_POSTUNINSTALL
  ${If} $UpdateMode <> 1
  ${AndIf} $DeleteAppDataCheckboxState = 1
    SetShellVarContext current
    RMDir /r "$APPDATA\specbridge"
    RMDir /r "$LOCALAPPDATA\specbridge"
  ${EndIf}
!macroend
