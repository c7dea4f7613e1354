"""Static analysis of JavaScript, HTML, PHP and templates: rules (yara-x), structure
(tree-sitter) and light deobfuscation, combined by :mod:`skimguard.analyze.engine` into a verdict
that explains itself. Used by ``skimguard analyze`` and on every new or changed captured script."""
