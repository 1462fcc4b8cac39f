"""Everything that talks to or about the Ethereum chain."""
