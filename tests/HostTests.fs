module GcnKd.Tests.HostTests
