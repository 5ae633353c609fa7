; Inno Setup script for Redraft (packaging/build.py passes /DAppVersion, /DSourceDir, /DOutputDir and /DIconFile).
; Per-user install by default (no admin rights needed); the bundle is the PyInstaller one-folder build.

#ifndef AppVersion
  #define AppVersion "0.1.0"
#endif

[Setup]
AppId={{6F1B0C8E-6C54-4E7A-9E55-2B1D3F7A9C21}
AppName=Redraft
AppVersion={#AppVersion}
AppPublisher=Redraft
DefaultDirName={autopf}\Redraft
DefaultGroupName=Redraft
PrivilegesRequired=lowest
PrivilegesRequiredOverridesAllowed=dialog
OutputDir={#OutputDir}
OutputBaseFilename=Redraft-{#AppVersion}-windows-x64-setup
SetupIconFile={#IconFile}
UninstallDisplayIcon={app}\redraft.exe
Compression=lzma2/max
SolidCompression=yes
ArchitecturesAllowed=x64compatible
ArchitecturesInstallIn64BitMode=x64compatible
ChangesAssociations=yes
WizardStyle=modern

[Tasks]
Name: "desktopicon"; Description: "{cm:CreateDesktopIcon}"; GroupDescription: "{cm:AdditionalIcons}"; Flags: unchecked
Name: "assocmd"; Description: "Open Markdown files (.md) with Redraft"; GroupDescription: "File associations:"
Name: "assoctxt"; Description: "Open text files (.txt) with Redraft"; GroupDescription: "File associations:"; Flags: unchecked

[Files]
Source: "{#SourceDir}\*"; DestDir: "{app}"; Flags: ignoreversion recursesubdirs createallsubdirs

[Icons]
Name: "{group}\Redraft"; Filename: "{app}\redraft.exe"
Name: "{group}\Uninstall Redraft"; Filename: "{uninstallexe}"
Name: "{autodesktop}\Redraft"; Filename: "{app}\redraft.exe"; Tasks: desktopicon

[Registry]
; A ProgID of our own, offered for .md and .txt ("Open with"), the default only for the chosen tasks.
Root: HKA; Subkey: "Software\Classes\Redraft.Document"; ValueType: string; ValueName: ""; ValueData: "Text document"; Flags: uninsdeletekey
Root: HKA; Subkey: "Software\Classes\Redraft.Document\DefaultIcon"; ValueType: string; ValueName: ""; ValueData: "{app}\redraft.exe,0"
Root: HKA; Subkey: "Software\Classes\Redraft.Document\shell\open\command"; ValueType: string; ValueName: ""; ValueData: """{app}\redraft.exe"" ""%1"""
Root: HKA; Subkey: "Software\Classes\.md\OpenWithProgids"; ValueType: string; ValueName: "Redraft.Document"; ValueData: ""; Flags: uninsdeletevalue
Root: HKA; Subkey: "Software\Classes\.txt\OpenWithProgids"; ValueType: string; ValueName: "Redraft.Document"; ValueData: ""; Flags: uninsdeletevalue
Root: HKA; Subkey: "Software\Classes\.md"; ValueType: string; ValueName: ""; ValueData: "Redraft.Document"; Flags: uninsdeletevalue; Tasks: assocmd
Root: HKA; Subkey: "Software\Classes\.txt"; ValueType: string; ValueName: ""; ValueData: "Redraft.Document"; Flags: uninsdeletevalue; Tasks: assoctxt

[Run]
Filename: "{app}\redraft.exe"; Description: "{cm:LaunchProgram,Redraft}"; Flags: nowait postinstall skipifsilent
