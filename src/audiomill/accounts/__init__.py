"""Users and their credentials: passwords, API keys, cookie sessions."""
